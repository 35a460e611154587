"""Who may ask what, from where, and how often. Pure apart from the rate limiter's clock and
`resolve_channel_names`, the one Slack call, made once at start.

Rules match a channel by its ID only. A request's channel name is whatever the channel is
called now: a channel created (or renamed) as "jobs" must not inherit the `#jobs` rule, so a
name in a rule is resolved to the ID it has when podmem starts, and kept.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.settings.slack import AccessRule

log = logging.getLogger(__name__)
# Slack's channel IDs: C (public and, lately, private), G (older private), D (direct message).
# Names are lowercase, IDs are not, so the two never mix.
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


def is_channel_id(channel: str) -> bool:
    return CHANNEL_ID.fullmatch(channel) is not None


def channel_names(rules: Sequence[AccessRule]) -> set[str]:
    """The channels the rules name by name (without `#`): what must be resolved at start."""
    return {c.removeprefix("#") for r in rules for c in r.channels if not is_channel_id(c)}


def resolve_channel_names(client: WebClient, names: Collection[str]) -> dict[str, str]:
    """Each name's channel ID, from conversations.list (public channels: `channels:read`).
    A name not found is left out: its rules then match no channel (closed, never open)."""
    wanted, found = set(names), dict[str, str]()
    cursor: str | None = None
    try:
        while wanted - found.keys():
            page = client.conversations_list(
                types="public_channel", exclude_archived=True, limit=1000, cursor=cursor
            )
            for channel in page.get("channels") or []:
                if channel.get("name") in wanted:
                    found[str(channel["name"])] = str(channel["id"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                break
    except (SlackApiError, SlackClientError) as error:
        code = error.response.get("error") if isinstance(error, SlackApiError) else error
        log.error("cannot list Slack channels to resolve access rules' names (%s)", code)
    for name in sorted(wanted - found.keys()):
        log.warning(
            "access_rules: #%s is no public channel podmem can see; its rules match no channel "
            "(give the channel's ID, e.g. C0123ABCD, for a private one)",
            name,
        )
    return found


@dataclass(frozen=True)
class _Rule:
    namespaces: tuple[str, ...]
    channels: frozenset[str] | None  # None: every channel
    users: frozenset[str] | None  # None: every user


class Access:
    """The namespaces a user may query from a channel (None: all of them)."""

    def __init__(
        self, rules: Sequence[AccessRule], channel_ids: Mapping[str, str] | None = None
    ) -> None:
        """`channel_ids` maps the rules' channel names to IDs (resolve_channel_names); a
        name it does not map matches no channel."""
        ids = channel_ids or {}

        def resolved(channel: str) -> str | None:
            return channel if is_channel_id(channel) else ids.get(channel.removeprefix("#"))

        self.rules = [
            _Rule(
                tuple(rule.namespaces),
                frozenset(filter(None, map(resolved, rule.channels))) if rule.channels else None,
                frozenset(rule.users) if rule.users else None,
            )
            for rule in rules
        ]

    @classmethod
    def from_slack(cls, rules: Sequence[AccessRule], client: WebClient) -> Access:
        names = channel_names(rules)
        return cls(rules, resolve_channel_names(client, names) if names else {})

    def namespaces(self, *, user_id: str, channel_id: str) -> list[str] | None:
        """What this user may see in this channel."""
        return self._allowed(channel_id, user_id)

    def audience(self, *, channel_id: str) -> list[str] | None:
        """What everyone in this channel may see: the namespaces a post there (`--share`) may
        show. A rule scoped to some users lets them look, not publish to the channel."""
        return self._allowed(channel_id, None)

    def _allowed(self, channel_id: str, user_id: str | None) -> list[str] | None:
        if not self.rules:
            return None
        allowed: list[str] = []
        for rule in self.rules:
            if rule.channels is not None and channel_id not in rule.channels:
                continue
            if rule.users is not None and (user_id is None or user_id not in rule.users):
                continue
            allowed.extend(rule.namespaces)
        return allowed

    @staticmethod
    def allows(globs: list[str] | None, namespace: str) -> bool:
        return globs is None or any(fnmatch.fnmatchcase(namespace, g) for g in globs)

    def may(self, *, user_id: str, channel_id: str, namespace: str) -> bool:
        return self.allows(self.namespaces(user_id=user_id, channel_id=channel_id), namespace)


class RateLimiter:
    """At most `per_minute` commands per user in any 60 s: a sliding window."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute, self.clock = per_minute, clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, user: str) -> float:
        """0 if the user may go now (and counts it), else how long to wait."""
        now = self.clock()
        with self._lock:
            seen = self._seen.setdefault(user, deque())
            while seen and now - seen[0] >= 60:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return 60 - (now - seen[0])
            seen.append(now)
            return 0.0
