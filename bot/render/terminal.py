"""Block Kit as it would read in Slack, drawn in a terminal (for `podmem demo`)."""

from __future__ import annotations

import re
import textwrap
from typing import Any

from bot.render.slack import element_label

WIDTH = 96
# The emoji podmem's messages use, as a terminal shows them; others stay as :code:.
EMOJI = {
    ":bar_chart:": "📊",
    ":boom:": "💥",
    ":construction:": "🚧",
    ":grey_question:": "❔",
    ":rotating_light:": "🚨",
    ":warning:": "⚠️",
    ":white_check_mark:": "✅",
}


def _plain(mrkdwn: str) -> str:
    """Slack mrkdwn to plain text: links to their label, no * _ ` markers, emoji drawn."""
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2", mrkdwn)
    text = re.sub(r":[a-z_]+:", lambda m: EMOJI.get(m.group(0), m.group(0)), text)
    return re.sub(r"(?<![\w])[*_`]|[*_`](?![\w])", "", text)


def _wrap(text: str, indent: str = "│ ") -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, WIDTH - len(indent)) or [""]
    return [indent + line for line in lines]


def render_blocks(text: str, blocks: list[dict[str, Any]] | None, *, reply: bool = False) -> str:
    """One message as a framed text box; thread replies are indented."""
    pad = "    ↳ " if reply else ""
    out: list[str] = []
    if not blocks:
        out += _wrap(_plain(text))
    for block in blocks or []:
        kind = block.get("type")
        if kind == "header":
            out.append("│ " + block["text"]["text"].upper())
            out.append("│ " + "─" * min(WIDTH - 2, len(block["text"]["text"])))
        elif kind == "section":
            if "text" in block:
                out += _wrap(_plain(block["text"]["text"]))
            cells = [_plain(f["text"]).replace("\n", ": ", 1) for f in block.get("fields", [])]
            for left, right in zip(cells[::2], [*cells[1::2], ""], strict=False):
                out.append(f"│ {left:<46}{right}")
        elif kind == "context":
            out += _wrap(" · ".join(_plain(e.get("text", "")) for e in block["elements"]), "│   ")
        elif kind == "actions":
            out.append("│ " + "  ".join(f"[ {element_label(e)} ]" for e in block["elements"]))
        elif kind == "divider":
            out.append("│ " + "┄" * 40)
        elif kind == "image":
            out.append(f"│ [image: {block.get('alt_text', '')}]")
    width = WIDTH - len(pad)
    frame = ["┌" + "─" * (width - 1), *out, "└" + "─" * (width - 1)]
    return "\n".join(pad + line for line in frame)
