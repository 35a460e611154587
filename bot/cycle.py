"""One real cycle: query, decide, persist, deliver. What `check --once` and the scheduler run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.check import CheckResult, alerting, run_check
from bot.delivery.outbox import DrainReport, Sender, drain
from bot.digest import DIGEST_ROWS, Digest, build, gather
from bot.errors import SourceError
from bot.lifecycle import apply_check, apply_failure, keep_under, notify, shown_in_notices
from bot.model import ContainerRef
from bot.notices import DigestReady, Observation
from bot.settings import Settings
from bot.sources.base import MemorySource
from bot.sources.kubernetes import KubernetesSource
from bot.state.document import Bar, State
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
    stop: Callable[[], bool] = lambda: False,
    every_alert_in_full: bool = False,
) -> CycleReport:
    """A source failure is not an exception here: it becomes the degraded notice, once.
    The breakdown is fetched for the containers the cycle's notices tell (and, with
    `every_alert_in_full`, for every alert: the CLI prints them all)."""
    stamp = at.timestamp()
    state, _ = store.read()
    watched = frozenset(
        ContainerRef(a.cluster, a.namespace, a.pod, a.container) for a in state.alerts.values()
    )

    def shown(judged: CheckResult) -> set[ContainerRef]:
        # A trial on this copy of the state: the real run below starts from a fresh read.
        told = shown_in_notices(state, judged, at=stamp, settings=settings)
        return told | set(alerting(judged)) if every_alert_in_full else told

    try:
        result = run_check(
            source=source,
            settings=settings,
            at=at,
            kubernetes=kubernetes,
            known_kills=frozenset(state.kills_seen),
            watched=watched,
            shown=shown,
        )
    except SourceError as error:
        message = str(error)
        transact(store, lambda s: apply_failure(s, message, at=stamp, settings=settings))
        return CycleReport(
            at, None, message, drain(store, sender, tell=settings.slack_channel, stop=stop)
        )
    transact(store, lambda s: apply_check(s, result, at=stamp, settings=settings))
    return CycleReport(
        at, result, None, drain(store, sender, tell=settings.slack_channel, stop=stop)
    )


def digest_notice(digest: Digest, *, settings: Settings, at: float) -> DigestReady:
    """The digest as its notice: the containers its lists name (DIGEST_ROWS each at most,
    the rest counted), its counts over all, the day's kills, the findings, the bars."""
    bars = [
        Bar(
            cluster=a.memory.ref.cluster,
            namespace=a.memory.ref.namespace,
            pod=a.memory.ref.pod,
            container=a.memory.ref.container,
            workload=a.memory.workload,
            working_set_bytes=a.memory.working_set_bytes,
            usage_bytes=a.memory.usage_bytes,
            limit_bytes=a.memory.limit_bytes,
            warning_ratio=a.thresholds.warning_ratio,
            critical_ratio=a.thresholds.critical_ratio,
            verdict=a.verdict.value,
        )
        for a in digest.top[: settings.digest_top]
    ]
    return DigestReady(
        at=at,
        containers=digest.containers,
        counts={verdict.value: n for verdict, n in digest.counts.items()},
        shown=[Observation.of(a, at) for a in digest.shown(DIGEST_ROWS)],
        kills=list(digest.kills),
        findings=list(digest.findings),
        rightsizing_error=digest.rightsizing_error,
        previous=digest.previous,
        bars=bars,
        more=digest.left_out(DIGEST_ROWS),
    )


def run_digest(
    *,
    source: MemorySource,
    kubernetes: KubernetesSource | None,
    store: StateStore,
    sender: Sender,
    settings: Settings,
    at: datetime,
    stop: Callable[[], bool] = lambda: False,
) -> list[Digest]:
    """Post the digest to every routed channel: message, full lists and chart in its thread."""
    gathered = gather(source=source, kubernetes=kubernetes, settings=settings, at=at)
    stamp = at.timestamp()

    def queue(state: State) -> list[Digest]:
        digests = build(gathered, settings=settings, at=at, previous=state.digests)
        for digest in digests:
            ready = digest_notice(digest, settings=settings, at=stamp)
            thread = f"digest/{digest.channel}/{int(stamp)}"
            notify(state, ready, thread=thread, at=stamp, channels=[digest.channel])
            state.digests[digest.channel] = digest.summary()
        keep_under(state)
        return digests

    digests = transact(store, queue)
    drain(store, sender, tell=settings.slack_channel, stop=stop)
    return digests
