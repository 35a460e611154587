"""The lifecycle's decisions, step by step, on synthetic checks (no I/O anywhere).

They are asserted as notices: what happened and the figures behind it. How Slack words
them is `tests/test_compose.py`'s business."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.analysis import Thresholds, assess
from bot.check import CheckResult
from bot.kills import OomAlert
from bot.lifecycle import alert_key, apply_check, apply_failure
from bot.model import ContainerMemory, ContainerRef, OomKill
from bot.notices import (
    AlertEscalated,
    AlertFired,
    AlertReminder,
    AlertResolved,
    AlertStale,
    Kills,
    MonitoringDegraded,
    MonitoringRecovered,
)
from bot.oom import KillGroup, kill_context
from bot.settings import load_settings
from bot.silences import add_silence
from bot.state.document import State

MIB = 2**20
REF = ContainerRef("", "shop", "api-7d9f-x2", "app")
SETTINGS = load_settings(
    slack_channel="#alerts", routes=[{"channel": "#batch", "namespaces": ["batch*"]}]
)
T0 = 1_800_000_000.0


def check(
    ws: float | None, *, at: float = T0, ref: ContainerRef = REF, kills: tuple[OomAlert, ...] = ()
) -> CheckResult:
    memory = ContainerMemory(
        ref,
        working_set_bytes=None if ws is None else round(ws * MIB),
        working_set_floor_bytes=None if ws is None else round(ws * MIB),
        usage_bytes=None if ws is None else round(ws * MIB),
        rss_bytes=None if ws is None else round(ws * MIB),
        limit_bytes=256 * MIB,
        growth_bytes_per_second=0.0,
    )
    a = assess(memory, Thresholds.from_settings(SETTINGS))
    return CheckResult(datetime.fromtimestamp(at, UTC), (a,), (), kills)


def step(state: State, result: CheckResult, at: float) -> list[str]:
    """The kinds of the notices a step queued."""
    before = len(state.outbox)
    apply_check(state, result, at=at, settings=SETTINGS)
    return [n.kind for n in state.outbox[before:]]


def test_fire_escalate_remind_resolve() -> None:
    s = State()
    assert step(s, check(100), T0) == []
    assert step(s, check(210), T0 + 60) == ["alert_fired"]  # 82 %: warning
    fired = s.outbox[-1].notice
    assert isinstance(fired, AlertFired) and fired.severity == "warning"
    assert fired.seen.memory.working_set_bytes == 210 * MIB and fired.seen.at == T0 + 60
    assert step(s, check(212), T0 + 120) == []  # still warning: nothing new
    assert step(s, check(240), T0 + 180) == ["alert_escalated"]
    escalated = s.outbox[-1].notice
    assert isinstance(escalated, AlertEscalated) and escalated.silence is None
    assert step(s, check(240), T0 + 180 + 4 * 3600) == ["alert_reminder"]  # 4 h reminder
    reminder = s.outbox[-1].notice
    assert isinstance(reminder, AlertReminder)
    assert (reminder.severity, reminder.fired_at) == ("critical", T0 + 60)
    assert step(s, check(198), T0 + 20000) == []  # 77 %: below warning, above hysteresis
    assert step(s, check(150), T0 + 20060) == ["alert_resolved"]  # 59 %: resolved
    resolved = s.outbox[-1].notice
    assert isinstance(resolved, AlertResolved) and resolved.killed_at is None
    assert (resolved.severity, resolved.fired_at) == ("critical", T0 + 60) and not s.alerts
    assert {n.thread for n in s.outbox} == {alert_key(REF)}  # one conversation


def test_missing_data_never_resolves_and_goes_stale() -> None:
    s = State()
    step(s, check(240), T0)
    assert step(s, check(None), T0 + 60) == []
    assert step(s, CheckResult(datetime.fromtimestamp(T0, UTC), (), ()), T0 + 600) == []
    assert alert_key(REF) in s.alerts
    assert step(s, check(None), T0 + 3600) == ["alert_stale"]
    stale = s.outbox[-1].notice
    assert isinstance(stale, AlertStale) and stale.alert.last_seen_at == T0
    assert not s.alerts


def test_degraded_once_then_recovered_once_with_no_resolve_between() -> None:
    s = State()
    step(s, check(240), T0)
    apply_failure(s, "cannot reach Prometheus", at=T0 + 60, settings=SETTINGS)
    apply_failure(s, "cannot reach Prometheus", at=T0 + 120, settings=SETTINGS)
    assert [n.notice for n in s.outbox[1:]] == [MonitoringDegraded(error="cannot reach Prometheus")]
    assert step(s, check(240), T0 + 180) == ["recovered"]
    assert s.outbox[-1].notice == MonitoringRecovered(since=T0 + 60, at=T0 + 180)
    assert alert_key(REF) in s.alerts


def test_snoozed_container_does_not_fire_until_the_snooze_ends() -> None:
    s = State()
    add_silence(
        s,
        scope="pod",
        namespace="shop",
        name=REF.pod,
        cluster="",
        until=T0 + 3600,
        by="alice",
        reason="load test",
        at=T0,
    )
    assert step(s, check(240), T0 + 60) == []
    assert step(s, check(240), T0 + 3660) == ["alert_fired"]
    assert not s.silences  # expired silences are dropped


def test_routing_by_namespace_glob() -> None:
    s = State()
    step(s, check(240, ref=ContainerRef("", "batch-eu", "job-1", "app")), T0)
    step(s, check(240), T0)
    assert [n.channel for n in s.outbox] == ["#batch", "#alerts"]


def _kill(restart: int, finished: float) -> OomAlert:
    kill = OomKill(REF, restart, datetime.fromtimestamp(finished, UTC), workload="deployment/api")
    context = kill_context(
        kill, working_set=(), rss=(), cache=(), usage=(), limit_bytes=256 * MIB, request_bytes=None
    )
    return OomAlert(kill, context, KillGroup("deployment/api", (kill,)), None)


def test_each_kill_once_and_none_from_before_watching() -> None:
    s = State()
    old = _kill(0, T0 - 300)
    assert step(s, check(100, kills=(old,)), T0) == []  # happened before podmem watched
    new = _kill(1, T0 + 30)
    assert step(s, check(100, at=T0 + 60, kills=(old, new)), T0 + 60) == ["kills"]
    assert step(s, check(100, at=T0 + 120, kills=(old, new)), T0 + 120) == []
    told = s.outbox[-1].notice
    assert isinstance(told, Kills) and [k.kill.restart_count for k in told.kills] == [1]
    assert told.at == T0 + 60


def test_an_opted_out_pod_never_posts() -> None:
    from dataclasses import replace

    s = State(watching_since=T0 - 3600)
    result = check(240)
    quiet = replace(
        result.assessments[0], memory=replace(result.assessments[0].memory, ignored=True)
    )
    assert step(s, CheckResult(result.evaluated_at, (quiet,), ()), T0) == []
    assert not s.alerts
