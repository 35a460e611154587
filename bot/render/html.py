"""A Slack-like HTML page of the demo's messages and charts, to open in a browser."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from bot.render.slack import element_label

STYLE = """
body{font:15px/1.46 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;background:#f8f8f8;margin:0}
main{max-width:860px;margin:0 auto;padding:24px}
h1{font-size:22px} .moment{color:#616061;font-size:13px;margin:28px 0 6px;font-weight:600}
.msg{background:#fff;border:1px solid #e2e2e2;border-radius:8px;padding:12px 16px;margin:8px 0}
.who{font-weight:800}.who small{font-weight:400;color:#616061;margin-left:6px}
.reply{margin-left:40px;border-left:3px solid #ddd}
.hdr{font-size:18px;font-weight:800;margin:6px 0}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:6px 24px;margin:6px 0}
.ctx{color:#616061;font-size:12px;margin:6px 0}
.btn{display:inline-block;border:1px solid #ccc;border-radius:4px;padding:3px 12px;
margin:6px 6px 0 0;font-weight:600;font-size:13px}
.btn.primary{background:#007a5a;color:#fff;border-color:#007a5a}
.btn.danger{color:#e01e5a;border-color:#e01e5a}
img{max-width:100%;border:1px solid #eee;margin-top:6px}
code{background:#f3f3f3;border:1px solid #e0e0e0;border-radius:3px;padding:0 3px;font-size:13px}
hr{border:none;border-top:1px solid #eee}
"""


def _mrkdwn(text: str) -> str:
    out = html.escape(text)
    out = re.sub(r"&lt;([^|&]+)\|([^&]+)&gt;", r'<a href="\1">\2</a>', out)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"(?<!\w)\*([^*\n]+)\*(?!\w)", r"<b>\1</b>", out)
    out = re.sub(r"(?<!\w)_([^_\n]+)_(?!\w)", r"<i>\1</i>", out)
    return out.replace("\n", "<br>")


def _block(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "header":
        return f'<div class="hdr">{html.escape(block["text"]["text"])}</div>'
    if kind == "section":
        parts = []
        if "text" in block:
            parts.append(f"<div>{_mrkdwn(block['text']['text'])}</div>")
        if block.get("fields"):
            cells = "".join(f"<div>{_mrkdwn(f['text'])}</div>" for f in block["fields"])
            parts.append(f'<div class="fields">{cells}</div>')
        return "".join(parts)
    if kind == "context":
        return (
            '<div class="ctx">'
            + " · ".join(_mrkdwn(e.get("text", "")) for e in block["elements"])
            + "</div>"
        )
    if kind == "actions":
        return (
            "<div>"
            + "".join(
                f'<span class="btn {e.get("style", "")}">{html.escape(element_label(e))}</span>'
                for e in block["elements"]
            )
            + "</div>"
        )
    if kind == "divider":
        return "<hr>"
    return ""


@dataclass
class HtmlPage:
    title: str
    parts: list[str] = field(default_factory=list)

    def moment(self, caption: str) -> None:
        self.parts.append(f'<div class="moment">{html.escape(caption)}</div>')

    def message(
        self,
        text: str,
        blocks: list[dict[str, Any]] | None,
        *,
        reply: bool = False,
        image: str | None = None,
        note: str = "",
    ) -> None:
        body = "".join(_block(b) for b in blocks) if blocks else f"<div>{_mrkdwn(text)}</div>"
        if image:
            body += f'<img src="{html.escape(image)}" alt="chart">'
        css = "msg reply" if reply else "msg"
        who = f'<div class="who">podmem<small>APP {html.escape(note)}</small></div>'
        self.parts.append(f'<div class="{css}">{who}{body}</div>')

    def render(self) -> str:
        return (
            f"<!doctype html><meta charset=utf-8><title>{html.escape(self.title)}</title>"
            f"<style>{STYLE}</style><main><h1>{html.escape(self.title)}</h1>"
            + "".join(self.parts)
            + "</main>"
        )
