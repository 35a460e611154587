"""Signed Slack requests, as Slack sends them to an HTTP-mode app."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import requests
from slack_sdk.signature import SignatureVerifier

SECRET = "test-signing-secret"


def signed_post(
    url: str,
    form: dict[str, str],
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    forge: bool = False,
) -> requests.Response:
    body = urlencode(form)
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    if forge:
        signature = signature[:-4] + "beef"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature or "",
    }
    return requests.post(url, data=body, headers=headers, timeout=10)


def slash_form(
    text: str,
    response_url: str,
    *,
    user: str = "U0ALICE",
    channel: str = "C0ALERTS",
    channel_name: str = "alerts",
) -> dict[str, str]:
    return {
        "token": "legacy",
        "team_id": "T0PODMEM",
        "team_domain": "podmem",
        "channel_id": channel,
        "channel_name": channel_name,
        "user_id": user,
        "user_name": "alice",
        "command": "/podmem",
        "text": text,
        "api_app_id": "A0PODMEM",
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }


def action_form(
    action_id: str,
    value: dict[str, str],
    *,
    response_url: str,
    channel: str,
    message: dict[str, Any] | None = None,
    user: str = "U0ALICE",
    overflow: bool = False,
) -> dict[str, str]:
    """A click, as Slack posts it: on a button, or on an option of an overflow menu (whose
    value arrives as `selected_option`, not `value`)."""
    if overflow:
        chosen: dict[str, Any] = {
            "type": "overflow",
            "selected_option": {
                "text": {"type": "plain_text", "text": "option"},
                "value": json.dumps(value),
            },
        }
    else:
        chosen = {"type": "button", "value": json.dumps(value)}
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "alice", "team_id": "T0PODMEM"},
        "api_app_id": "A0PODMEM",
        "team": {"id": "T0PODMEM", "domain": "podmem"},
        "channel": {"id": channel, "name": "alerts"},
        "container": {
            "type": "message",
            "channel_id": channel,
            "message_ts": (message or {}).get("ts", "1.1"),
        },
        "message": message or {},
        "response_url": response_url,
        "trigger_id": "1.2.3",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b",
                **chosen,
                "action_ts": str(time.time()),
            }
        ],
    }
    return {"payload": json.dumps(payload)}
