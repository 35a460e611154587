"""Missing or invalid data never changes what was said: a figure that is absent, NaN, ±Inf,
negative or absurd is unknown for that cycle; an open alert stays open and silent until a
trustworthy value arrives, and nothing is posted twice when data returns."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.analysis import Thresholds
from bot.check import CheckResult, MemoryAlert
from bot.lifecycle import alert_key, apply_check
from bot.model import ContainerMemory, ContainerRef
from bot.policy import assess_all
from bot.settings import load_settings
from bot.sources.prometheus import parse_whole
from bot.state.document import State

MIB = 2**20
REF = ContainerRef("", "shop", "api-7d9f-x2", "app")
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# What a sample's value can be on the wire; only "valid" is trustworthy.
WIRE = {
    "valid": None,  # filled per figure below
    "missing": "",
    "nan": "NaN",
    "inf": "+Inf",
    "-inf": "-Inf",
    "negative": "-52428800",
    "huge": "1e30",
}
GOOD = {"working_set": str(240 * MIB), "limit": str(256 * MIB)}  # 94 %: firing
SETTINGS = load_settings(slack_channel="#alerts")


def cycle(state: State, minute: int, ws: str, limit: str) -> None:
    def read(figure: str, kind: str) -> int | None:
        return parse_whole(GOOD[figure] if kind == "valid" else WIRE[kind] or None)

    working_set, limit_bytes = read("working_set", ws), read("limit", limit)
    memory = ContainerMemory(
        REF,
        working_set_bytes=working_set,
        working_set_floor_bytes=working_set,
        rss_bytes=working_set,
        usage_bytes=working_set,
        limit_bytes=limit_bytes,
    )
    at = START.timestamp() + minute * 60
    assessments, _ = assess_all([memory], Thresholds(), at=START)
    alerts = tuple(MemoryAlert(a) for a in assessments if a.verdict.is_alert)
    result = CheckResult(evaluated_at=START, assessments=assessments, alerts=alerts)
    apply_check(state, result, at=at, settings=SETTINGS)


kinds = st.sampled_from(list(WIRE))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(kinds, kinds), min_size=1, max_size=40))
def test_bad_data_never_resolves_nor_posts_twice(cycles: list[tuple[str, str]]) -> None:
    state = State()
    cycle(state, 0, "valid", "valid")  # watching starts
    cycle(state, 1, "valid", "valid")  # fires
    for minute, (ws, limit) in enumerate(cycles, start=2):
        cycle(state, minute, ws, limit)
        assert alert_key(REF) in state.alerts, f"resolved by {ws}/{limit} at minute {minute}"
    cycle(state, len(cycles) + 2, "valid", "valid")  # data is back, still firing
    posts = [n for n in state.outbox if n.kind == "alert_fired" and n.thread == alert_key(REF)]
    assert len(posts) == 1
    assert not any(n.kind == "alert_resolved" for n in state.outbox)


def test_a_limit_missing_for_a_cycle_holds_then_a_real_drop_resolves() -> None:
    state = State()
    for minute, (ws, limit) in enumerate([("valid", "valid")] * 2 + [("valid", "missing")]):
        cycle(state, minute, ws, limit)
    assert alert_key(REF) in state.alerts
    GOOD_LOW = str(100 * MIB)  # a trustworthy value below the line: that resolves
    parse = parse_whole(GOOD_LOW)
    memory = ContainerMemory(
        REF, working_set_bytes=parse, working_set_floor_bytes=parse, limit_bytes=256 * MIB
    )
    assessments, _ = assess_all([memory], Thresholds(), at=START)
    apply_check(
        state,
        CheckResult(evaluated_at=START, assessments=assessments, alerts=()),
        at=START.timestamp() + 600,
        settings=SETTINGS,
    )
    assert alert_key(REF) not in state.alerts
    assert any(n.kind == "alert_resolved" for n in state.outbox)


def test_a_kill_loop_alert_does_not_flap_between_kills() -> None:
    """Fired by 2 kills in the look-back; one kill left (the window slid) is not 'resolved'."""
    state = State()

    def at(minute: int, kills: int) -> None:
        memory = ContainerMemory(
            REF, working_set_bytes=40 * MIB, working_set_floor_bytes=40 * MIB, limit_bytes=128 * MIB
        )
        assessments, _ = assess_all([memory], Thresholds(), at=START, oom_kills={REF: kills})
        alerts = tuple(MemoryAlert(a) for a in assessments if a.verdict.is_alert)
        apply_check(
            state,
            CheckResult(evaluated_at=START, assessments=assessments, alerts=alerts),
            at=START.timestamp() + minute * 60,
            settings=SETTINGS,
        )

    at(0, 0)
    at(1, 2)  # a loop: warning
    assert alert_key(REF) in state.alerts
    for minute, kills in ((2, 1), (3, 2), (4, 1)):
        at(minute, kills)
        assert alert_key(REF) in state.alerts
    at(5, 0)  # no kill left in the look-back: resolved, once
    assert alert_key(REF) not in state.alerts
    posts = [n for n in state.outbox if n.kind == "alert_fired" and n.thread == alert_key(REF)]
    assert len(posts) == 1
