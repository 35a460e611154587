"""One real cycle: query, decide, persist, deliver. What `check --once` and the scheduler run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.check import CheckResult, run_check
from bot.delivery.outbox import DrainReport, Sender, drain
from bot.lifecycle import apply_check, apply_failure
from bot.settings import Settings
from bot.sources.base import MemorySource, SourceError
from bot.sources.kubernetes import KubernetesSource
from bot.state.store import StateStore, transact


@dataclass(frozen=True, slots=True)
class CycleReport:
    evaluated_at: datetime
    result: CheckResult | None
    error: str | None
    delivery: DrainReport

    @property
    def ok(self) -> bool:
        return self.error is None


def run_cycle(
    *,
    source: MemorySource,
    kubernetes: KubernetesSource | None,
    store: StateStore,
    sender: Sender,
    settings: Settings,
    at: datetime,
) -> CycleReport:
    """A source failure is not an exception here: it becomes the degraded notice, once."""
    stamp = at.timestamp()
    try:
        result = run_check(source=source, settings=settings, at=at, kubernetes=kubernetes)
    except SourceError as error:
        message = str(error)
        transact(store, lambda s: apply_failure(s, message, at=stamp, settings=settings))
        return CycleReport(at, None, message, drain(store, sender))
    transact(store, lambda s: apply_check(s, result, at=stamp, settings=settings))
    return CycleReport(at, result, None, drain(store, sender))
