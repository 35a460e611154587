"""The daily digest, in words: the state of memory across the cluster in one message.

This is the first, plain form; the next issue adds right-sizing, charts and per-channel runs.
"""

from __future__ import annotations

from collections import Counter

from bot.check import CheckResult
from bot.model import Verdict
from bot.units import format_bytes, format_ratio

TOP = 5


def digest_text(result: CheckResult, kills_last_day: int) -> str:
    counts = Counter(a.verdict for a in result.assessments)
    limited = sorted(
        (a for a in result.assessments if a.working_set_to_limit is not None),
        key=lambda a: -(a.working_set_to_limit or 0.0),
    )[:TOP]
    lines = [
        f":bar_chart: *podmem daily digest* · {len(result.assessments)} containers · "
        f"{counts[Verdict.CRITICAL]} critical · {counts[Verdict.WARNING]} warning · "
        f"{kills_last_day} OOM kill(s) in 24 h",
        "*Closest to their limit (working set / limit):*",
    ]
    for a in limited:
        m = a.memory
        lines.append(
            f"• {m.ref.pod_name} · {m.ref.container}: {format_ratio(a.working_set_to_limit)} "
            f"({format_bytes(m.working_set_bytes)} of {format_bytes(m.limit_bytes)})"
        )
    if counts[Verdict.NO_LIMIT]:
        lines.append(f"{counts[Verdict.NO_LIMIT]} container(s) have no memory limit.")
    if counts[Verdict.CACHE_HEAVY]:
        lines.append(
            f"{counts[Verdict.CACHE_HEAVY]} container(s) look full by usage but it is page "
            "cache the kernel reclaims first: no risk."
        )
    return "\n".join(lines)
