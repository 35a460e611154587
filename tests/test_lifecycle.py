"""The lifecycle's decisions, step by step, on synthetic checks (no I/O anywhere)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.analysis import Thresholds, assess
from bot.check import CheckResult
from bot.kills import OomAlert
from bot.lifecycle import alert_key, apply_check, apply_failure
from bot.model import ContainerMemory, ContainerRef, OomKill
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


def actions(state: State) -> list[tuple[str, str]]:
    return [(n.action, n.text.split("\n")[0]) for n in state.outbox]


def step(state: State, result: CheckResult, at: float) -> list[str]:
    """The messages a step queued (chart uploads are checked on their own)."""
    before = len(state.outbox)
    apply_check(state, result, at=at, settings=SETTINGS)
    return [n.action for n in state.outbox[before:] if n.action != "upload"]


def texts(state: State) -> list[str]:
    return [n.text for n in state.outbox if n.action != "upload"]


def test_fire_escalate_remind_resolve() -> None:
    s = State()
    assert step(s, check(100), T0) == []
    assert step(s, check(210), T0 + 60) == ["post"]  # 82 %: warning
    assert step(s, check(212), T0 + 120) == []  # still warning: nothing new
    assert step(s, check(240), T0 + 180) == ["update", "reply"]  # critical: edit + thread note
    assert "Escalated" in texts(s)[-1]
    assert step(s, check(240), T0 + 180 + 4 * 3600) == ["reply"]  # 4 h reminder
    assert "Still critical" in texts(s)[-1]
    assert step(s, check(198), T0 + 20000) == []  # 77 %: below warning, above hysteresis
    assert step(s, check(150), T0 + 20060) == ["update", "reply"]  # 59 %: resolved
    assert "RESOLVED" in texts(s)[-2] and not s.alerts


def test_missing_data_never_resolves_and_goes_stale() -> None:
    s = State()
    step(s, check(240), T0)
    assert step(s, check(None), T0 + 60) == []
    assert step(s, CheckResult(datetime.fromtimestamp(T0, UTC), (), ()), T0 + 600) == []
    assert alert_key(REF) in s.alerts
    assert step(s, check(None), T0 + 3600) == ["update"]
    assert "NO DATA" in texts(s)[-1] and "Not resolved" in texts(s)[-1]
    assert not s.alerts


def test_degraded_once_then_recovered_once_with_no_resolve_between() -> None:
    s = State()
    step(s, check(240), T0)
    apply_failure(s, "cannot reach Prometheus", at=T0 + 60, settings=SETTINGS)
    apply_failure(s, "cannot reach Prometheus", at=T0 + 120, settings=SETTINGS)
    assert [t.split("\n")[0] for t in texts(s)[1:]] == [
        ":construction: *Monitoring degraded*: podmem cannot read memory metrics."
    ]
    assert step(s, check(240), T0 + 180) == ["post"]
    assert "Monitoring recovered" in texts(s)[-1]
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
    assert step(s, check(240), T0 + 3660) == ["post"]
    assert not s.silences  # expired silences are dropped


def test_routing_by_namespace_glob() -> None:
    s = State()
    step(s, check(240, ref=ContainerRef("", "batch-eu", "job-1", "app")), T0)
    step(s, check(240), T0)
    assert [n.channel for n in s.outbox if n.action == "post"] == ["#batch", "#alerts"]


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
    assert step(s, check(100, at=T0 + 60, kills=(old, new)), T0 + 60) == ["post"]
    assert step(s, check(100, at=T0 + 120, kills=(old, new)), T0 + 120) == []
    assert "OOMKilled" in texts(s)[-1]


def test_a_new_alert_brings_its_chart_into_the_thread() -> None:
    s = State()
    step(s, check(240), T0)
    post, upload = s.outbox
    assert (post.action, upload.action) == ("post", "upload")
    assert upload.thread == post.thread == alert_key(REF)
    assert upload.chart is not None
    assert (upload.chart.pod, upload.chart.limit_bytes) == (REF.pod, 256 * MIB)
    assert upload.chart.end - upload.chart.start == SETTINGS.report_range_seconds
    assert post.blocks and post.blocks[0]["type"] == "header"


def test_an_opted_out_pod_never_posts() -> None:
    from dataclasses import replace

    s = State(watching_since=T0 - 3600)
    result = check(240)
    quiet = replace(
        result.assessments[0], memory=replace(result.assessments[0].memory, ignored=True)
    )
    assert step(s, CheckResult(result.evaluated_at, (quiet,), ()), T0) == []
    assert not s.alerts
