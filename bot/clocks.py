"""The bot's clock: now, or a replay over historical data for drills and tests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class WallClock:
    """Real time. Checks see the data as it is now."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)

    def checked(self) -> None:
        """Real time moves by itself."""


class ScaledClock:
    """A replay at `speed` data seconds per real second, from `origin`. Where a check lands in
    the data depends on when the scheduler runs it: fine for a drill, not for a test."""

    def __init__(self, origin: datetime, speed: float) -> None:
        self._origin, self._speed, self._started = origin, speed, time.monotonic()

    def __call__(self) -> datetime:
        return self._origin + timedelta(seconds=(time.monotonic() - self._started) * self._speed)

    def checked(self) -> None:
        """Scaled time moves by itself."""


class SteppedClock:
    """A replay that moves `step` after every check, however late the scheduler ran it: check
    n sees the data at origin + n·step, so a replay gives the same answers on any machine."""

    def __init__(self, origin: datetime, step: timedelta) -> None:
        self._now, self._step, self._lock = origin, step, threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def checked(self) -> None:
        with self._lock:
            self._now += self._step


Clock = WallClock | ScaledClock | SteppedClock
