"""Parsing and formatting of the quantities users type and read: sizes, durations, instants."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from bot.errors import InputError

MIB = 1024 * 1024
GIB = 1024 * MIB

_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def format_bytes(value: float | None) -> str:
    """Sizes the way an SRE reads them: MiB below 1 GiB, GiB above, `n/a` when unknown."""
    if value is None:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= GIB:
        return f"{value / GIB:.2f} GiB"
    if magnitude >= MIB:
        return f"{value / MIB:.1f} MiB"
    if magnitude >= 1024:
        return f"{value / 1024:.0f} KiB"
    return f"{value:.0f} B"


def round_up_quantity(value: float) -> int:
    """A suggested memory size, rounded up to a step a person would write: 4 Mi below 1 Gi,
    64 Mi above (356.2 MiB -> 360Mi, 1.3 GiB -> 1344Mi)."""
    step = 4 * MIB if value < GIB else 64 * MIB
    return max(step, math.ceil(value / step) * step)


def quantity(value: int) -> str:
    """Bytes as a Kubernetes quantity a manifest or `kubectl set resources` takes: Gi when
    whole, else Mi, else Ki (rounded up: a limit is never shown below what it is)."""
    if value % GIB == 0:
        return f"{value // GIB}Gi"
    if value % MIB == 0:
        return f"{value // MIB}Mi"
    return f"{math.ceil(value / 1024)}Ki"


def format_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f} %"


def format_rate(bytes_per_second: float | None) -> str:
    """Growth per minute: per-second rates of memory are too small to read."""
    if bytes_per_second is None:
        return "n/a"
    per_minute = bytes_per_second * 60
    sign = "+" if per_minute >= 0 else "-"
    return f"{sign}{format_bytes(abs(per_minute))}/min"


def format_duration(seconds: float | None) -> str:
    if seconds is None or math.isinf(seconds):
        return "n/a"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        hours, rest = divmod(int(seconds), 3600)
        return f"{hours} h {rest // 60:02d} min"
    return f"{seconds / 86400:.1f} d"


def parse_duration(text: str) -> float:
    """Prometheus-style durations (`90s`, `5m`, `1h30m`, `7d`) to seconds."""
    cleaned = text.strip()
    if not cleaned or _DURATION_PART.sub("", cleaned) != "":
        raise InputError(f"bad duration {text!r}: use forms like 30s, 5m, 6h, 1h30m or 7d")
    seconds = sum(int(n) * _DURATION_SECONDS[unit] for n, unit in _DURATION_PART.findall(cleaned))
    if seconds <= 0:
        raise InputError(f"bad duration {text!r}: it must be longer than zero")
    if seconds > MAX_DURATION_SECONDS:
        raise InputError(f"bad duration {text!r}: at most 3650d (ten years)")
    return float(seconds)


# Instants podmem can ask about, and the longest span it looks over.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 4, 11, tzinfo=UTC)
MAX_DURATION_SECONDS = 3650 * 86400


def promql_duration(seconds: float) -> str:
    """Seconds to a PromQL range literal. Whole seconds: PromQL rejects fractions."""
    return f"{max(1, round(seconds))}s"


def parse_instant(text: str) -> datetime:
    """An instant given as RFC 3339 (with offset or Z) or as Unix seconds, to aware UTC,
    between 1970 and 2262 (what Prometheus and every clock podmem talks to can hold)."""
    cleaned = text.strip()
    try:
        if re.fullmatch(r"\d{9,11}(\.\d+)?", cleaned):
            parsed = datetime.fromtimestamp(float(cleaned), tz=UTC)
        else:
            parsed = datetime.fromisoformat(cleaned)
            if parsed.tzinfo is None:
                raise InputError(
                    f"bad time {text!r}: say which time zone, e.g. {cleaned}Z for UTC or "
                    f"{cleaned}+01:00"
                )
            parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise InputError(f"bad time {text!r}: podmem looks between 1970 and 2262") from None
    except ValueError as error:
        if isinstance(error, InputError):
            raise
        raise InputError(
            f"bad time {text!r}: use RFC 3339 like 2026-11-28T03:12:00Z or Unix seconds"
        ) from None
    if not EARLIEST <= parsed <= LATEST:
        raise InputError(f"bad time {text!r}: podmem looks between 1970 and 2262")
    return parsed
