"""Who may ask what, and how often. Pure apart from the rate limiter's clock."""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import deque
from collections.abc import Callable

from bot.settings import Settings


class Access:
    """The namespaces a user may query from a channel (None: all of them)."""

    def __init__(self, settings: Settings) -> None:
        self.rules = settings.access_rules

    def namespaces(self, *, user_id: str, channel_id: str, channel_name: str) -> list[str] | None:
        if not self.rules:
            return None
        channel_names = {channel_id, channel_name, f"#{channel_name}"}
        allowed: list[str] = []
        for rule in self.rules:
            if rule.channels and not channel_names & set(rule.channels):
                continue
            if rule.users and user_id not in rule.users:
                continue
            allowed.extend(rule.namespaces)
        return allowed

    @staticmethod
    def allows(globs: list[str] | None, namespace: str) -> bool:
        return globs is None or any(fnmatch.fnmatchcase(namespace, g) for g in globs)


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
