"""The Slack app manifest asks for exactly what the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent
MANIFEST = yaml.safe_load((ROOT / "deploy/slack/manifest.yaml").read_text())
CODE = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py"))

# Web API methods podmem calls → the bot scope each needs.
SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "files_upload_v2": "files:write",
    "conversations_list": "channels:read",
    "conversations_history": "channels:history",
    "conversations_replies": "channels:history",
}


def test_socket_mode_interactivity_and_the_command() -> None:
    assert MANIFEST["settings"]["socket_mode_enabled"] is True
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    (command,) = MANIFEST["features"]["slash_commands"]
    assert command["command"] == "/podmem"
    assert '@app.command("/podmem")' in CODE or 'app.command("/podmem")' in CODE


def test_scopes_are_exactly_what_the_code_calls() -> None:
    used = {scope for method, scope in SCOPES.items() if re.search(rf"\b{method}\(", CODE)}
    used.add("commands")
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == used
