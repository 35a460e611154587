"""One check cycle's findings: every container judged, the alerting ones picked out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.analysis import Assessment, Thresholds, assess
from bot.promql import CLUSTER_WIDE
from bot.settings import Settings
from bot.sources.base import MemorySource


@dataclass(frozen=True, slots=True)
class MemoryAlert:
    assessment: Assessment

    kind = "memory"

    @property
    def severity(self) -> str:
        return self.assessment.verdict.value


@dataclass(frozen=True, slots=True)
class CheckResult:
    evaluated_at: datetime
    assessments: tuple[Assessment, ...]
    alerts: tuple[MemoryAlert, ...]


def run_check(*, source: MemorySource, settings: Settings, at: datetime) -> CheckResult:
    snapshot = source.snapshot(at, CLUSTER_WIDE)
    thresholds = Thresholds.from_settings(settings)
    assessments = tuple(assess(memory, thresholds) for memory in snapshot.containers)
    alerts = tuple(
        MemoryAlert(a)
        for a in sorted(
            (a for a in assessments if a.verdict.is_alert),
            key=lambda a: (a.verdict.value != "critical", -(a.working_set_to_limit or 0.0)),
        )
    )
    return CheckResult(evaluated_at=at, assessments=assessments, alerts=alerts)
