"""Block Kit building blocks and the one chokepoint every Slack message passes through.

Messages are built with `slack_sdk.models.blocks`, so the SDK validates every block; `fit()`
then makes any message legal whatever the cluster size: long sections are split, fields are
spread over several sections, headers are shortened, and blocks beyond the 50 Slack allows
move into thread replies. Nothing is dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    BlockElement,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InteractiveElement,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    PlainTextObject,
    SectionBlock,
)

log = logging.getLogger(__name__)

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER = 150
MAX_CONTEXT_ELEMENTS = 10
# The notification text: Slack allows 40 000, but it is what phones show; keep it readable.
MAX_FALLBACK_TEXT = 3000


@dataclass(frozen=True)
class Message:
    """What to say: `text` is the notification/fallback text, `blocks` the rich form."""

    text: str
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True)
class Fitted:
    """A message made legal: the first part is the message, the rest go in its thread."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=_shorten(text, MAX_HEADER), emoji=True))


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text))


def fields(pairs: Iterable[tuple[str, str]]) -> SectionBlock:
    return SectionBlock(fields=[MarkdownTextObject(text=f"*{k}*\n{v}") for k, v in pairs])


def context(*parts: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=p) for p in parts if p])


def divider() -> DividerBlock:
    return DividerBlock()


def buttons(
    *items: tuple[str, str, dict[str, str], str | None],
    confirm: dict[str, tuple[str, str]] | None = None,
    more: InteractiveElement | None = None,
) -> ActionsBlock:
    """(label, action_id, value, style) each; the value travels as JSON. `confirm`, by
    action_id: (title, question) of a dialog Slack shows before the click counts. `more`: an
    overflow menu after the buttons."""
    asks = confirm or {}
    elements: list[InteractiveElement] = [
        ButtonElement(
            text=PlainTextObject(text=label, emoji=True),
            action_id=action,
            value=json.dumps(value, separators=(",", ":")),
            style=style,
            confirm=ConfirmObject(
                title=asks[action][0], text=asks[action][1], confirm="Yes", deny="Cancel"
            )
            if action in asks
            else None,
        )
        for label, action, value, style in items
    ]
    if more is not None:
        elements.append(more)
    return ActionsBlock(elements=elements)


def element_label(element: dict[str, Any]) -> str:
    """What a person sees of an actions element: a button's text, an overflow menu's "⋯"."""
    text = element.get("text")
    return str(text["text"]) if isinstance(text, dict) and "text" in text else "⋯"


# Slack's limit on an overflow option's value (a button's is 2 000).
MAX_OPTION_VALUE = 150


def overflow(
    action: str, options: Iterable[tuple[str, dict[str, str]]]
) -> InteractiveElement | None:
    """A "⋯" menu of (label, value) options, the values as JSON; None when a value would not
    fit Slack's 150 characters (a very long pod name): the menu is left out, not broken."""
    made = [
        Option(text=PlainTextObject(text=label), value=json.dumps(value, separators=(",", ":")))
        for label, value in options
    ]
    if not made or any(len(o.value or "") > MAX_OPTION_VALUE for o in made):
        return None
    return OverflowMenuElement(action_id=action, options=made)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _split_text(text: str, limit: int) -> list[str]:
    """Cut at line ends where possible, so tables and lists stay whole."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    parts.append(text)
    return parts


def _legal_blocks(block: Block) -> list[Block]:
    """One block as one or more blocks that respect Slack's per-block limits."""
    if isinstance(block, SectionBlock):
        out: list[Block] = []
        if block.text is not None:
            text = (
                block.text.text if isinstance(block.text, MarkdownTextObject) else str(block.text)
            )
            out += [
                SectionBlock(
                    text=MarkdownTextObject(text=p),
                    accessory=block.accessory
                    if i == 0 and isinstance(block.accessory, BlockElement)
                    else None,
                )
                for i, p in enumerate(_split_text(text, MAX_SECTION_TEXT))
            ]
        if block.fields:
            items = [
                MarkdownTextObject(
                    text=_shorten(f.text if hasattr(f, "text") else str(f), MAX_FIELD_TEXT)
                )
                for f in block.fields
            ]
            out += [
                SectionBlock(fields=items[i : i + MAX_FIELDS])
                for i in range(0, len(items), MAX_FIELDS)
            ]
        return out
    if isinstance(block, ContextBlock) and len(block.elements) > MAX_CONTEXT_ELEMENTS:
        e: list[Any] = list(block.elements)
        return [
            ContextBlock(elements=e[i : i + MAX_CONTEXT_ELEMENTS])
            for i in range(0, len(e), MAX_CONTEXT_ELEMENTS)
        ]
    return [block]


def fit(message: Message) -> list[Fitted]:
    """The chokepoint: a message as one or more Slack-legal parts (the rest for the thread)."""
    legal = [part for block in message.blocks for part in _legal_blocks(block)]
    text = _shorten(message.text, MAX_FALLBACK_TEXT)
    if not legal:
        return [Fitted(text=text)]
    chunks: list[list[Block]] = []
    rest = legal
    while rest:
        room = MAX_BLOCKS if chunks or len(rest) <= MAX_BLOCKS else MAX_BLOCKS - 1
        chunks.append(rest[:room])
        rest = rest[room:]
    if len(chunks) > 1:
        chunks[0].append(context(f"_{len(legal) - len(chunks[0])} more blocks in the thread._"))
    parts: list[Fitted] = []
    for index, chunk in enumerate(chunks):
        try:
            blocks = [b.to_dict() for b in chunk]
        except SlackObjectFormationError as error:
            # A block the SDK rejects must not cost the message: send its text instead.
            log.error("a message block failed validation (%s); sending it as text", error)
            blocks = [
                b.to_dict()
                for b in _legal_blocks(section(_shorten(message.text, MAX_SECTION_TEXT)))
            ]
        parts.append(
            Fitted(
                text=text if index == 0 else f"(continued {index + 1}/{len(chunks)})", blocks=blocks
            )
        )
    return parts


def plain(text: str) -> Message:
    return Message(text=text, blocks=(section(text),))
