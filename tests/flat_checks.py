"""A check result for one container whose memory sits flat at a level: the lifecycle's input
without Prometheus, for tests of what it queues and how that is told."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.analysis import Thresholds, assess
from bot.check import CheckResult, MemoryAlert
from bot.kills import OomAlert
from bot.model import ContainerMemory, ContainerRef
from bot.settings import Settings

MIB = 2**20


def flat_check(
    ref: ContainerRef,
    ws_mib: float,
    at: float,
    settings: Settings,
    *,
    kills: tuple[OomAlert, ...] = (),
    workload: str | None = None,
) -> CheckResult:
    """Working set, floor, usage and RSS all at `ws_mib` of a 256 MiB limit, not growing."""
    level = round(ws_mib * MIB)
    memory = ContainerMemory(
        ref,
        working_set_bytes=level,
        working_set_floor_bytes=level,
        usage_bytes=level,
        rss_bytes=level,
        limit_bytes=256 * MIB,
        growth_bytes_per_second=0.0,
        workload=workload,
    )
    a = assess(memory, Thresholds.from_settings(settings))
    alerts = (MemoryAlert(a),) if a.verdict.is_alert else ()
    return CheckResult(datetime.fromtimestamp(at, UTC), (a,), alerts, kills)
