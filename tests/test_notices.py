"""Notices in the state: small enough that an incident with Slack down fits a ConfigMap, and
bounded when it would not — the oldest collapse into a summary, nothing vanishes unsaid."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from bot.analysis import Thresholds, assess
from bot.check import CheckResult, MemoryAlert
from bot.lifecycle import MAX_STATE_BYTES, apply_check, apply_failure
from bot.model import ContainerMemory, ContainerRef
from bot.notices import Collapsed
from bot.settings import load_settings
from bot.state.document import MessageRef, State, dump_state, load_state

MIB = 2**20
# No storms: the worst case for the state is every alert told on its own.
SETTINGS = load_settings(slack_channel="#alerts", storm_threshold=100_000)
T0 = 1_800_000_000.0


def memory(index: int, ws_mib: float) -> ContainerMemory:
    """A container as a real cluster names and measures it: every figure there."""
    pod = f"checkout-api-7d9f8b6c5d-{index:05d}"
    return ContainerMemory(
        ContainerRef("prod-eu-west-1", f"team-payments-{index % 7}", pod, "checkout-api"),
        working_set_bytes=round(ws_mib * MIB) + 12345,
        working_set_floor_bytes=round(ws_mib * MIB) - 54321,
        usage_bytes=round(ws_mib * MIB) + 9876543,
        rss_bytes=round(ws_mib * MIB) - 1234567,
        cache_bytes=23456789,
        swap_bytes=0,
        limit_bytes=256 * MIB,
        request_bytes=192 * MIB,
        restarts=3,
        growth_bytes_per_second=1234.5678,
        limit_source="kube-state-metrics",
        node=f"ip-10-42-{index % 250}-{index % 200}.eu-west-1.compute.internal",
        workload=f"deployment/checkout-api-{index:05d}",  # one alert each: the worst case
        restarts_in_window=0,
        started_at=T0 - 86400 + index,
        memory_stalled_ratio=0.0123,
    )


def cycle(count: int, ws_mib: float, at: float) -> CheckResult:
    thresholds = Thresholds.from_settings(SETTINGS)
    when = datetime.fromtimestamp(at, UTC)
    assessments = tuple(assess(memory(i, ws_mib), thresholds, at=when) for i in range(count))
    alerts = tuple(MemoryAlert(a) for a in assessments if a.verdict.is_alert)
    return CheckResult(when, assessments, alerts)


def test_500_waiting_notices_of_an_incident_stay_under_256_kib() -> None:
    """100 containers fire, escalate, are reminded of twice and resolve while Slack is down."""
    state = State()
    steps = [(100, 0), (215, 60), (245, 120), (245, 4 * 3600 + 120), (245, 8 * 3600 + 120)]
    steps.append((100, 8 * 3600 + 180))
    for level, after in steps:
        apply_check(state, cycle(100, level, T0 + after), at=T0 + after, settings=SETTINGS)
    kinds = Counter(n.kind for n in state.outbox)
    assert kinds == {
        "alert_fired": 100,
        "alert_escalated": 100,
        "alert_reminder": 200,
        "alert_resolved": 100,
    }
    size = len(dump_state(state))
    assert size < 256 * 1024, f"{len(state.outbox)} notices: {size} bytes"
    # The same document read back is the same state (a restart delivers them all).
    assert load_state(dump_state(state)) == state


def test_a_long_outage_collapses_the_oldest_notices_instead_of_failing_writes() -> None:
    state = State()
    apply_check(state, cycle(1, 100, T0), at=T0, settings=SETTINGS)
    state.messages["early"] = MessageRef(channel="C1", ts="1.0", posted_at=T0)
    queued, at = 0, T0

    def summaries() -> set[str]:
        return {n.id for n in state.outbox if isinstance(n.notice, Collapsed)}

    def counted(change: Callable[[], None]) -> None:
        """Run a change; count the notices it queued (ids handed out, less new summaries)."""
        nonlocal queued
        ids, before = state.next_id, summaries()
        change()
        queued += state.next_id - ids - len(summaries() - before)

    # Alerts fire, escalate and resolve for hours while Slack is down.
    for _hour in range(12):
        for level in (100, 215, 245):
            at += 60
            result = cycle(400, level, at)
            counted(partial(apply_check, state, result, at=at, settings=SETTINGS))
            assert len(dump_state(state)) <= MAX_STATE_BYTES
    counted(lambda: apply_failure(state, "cannot reach Prometheus", at=at + 60, settings=SETTINGS))
    assert len(dump_state(state)) <= MAX_STATE_BYTES
    collapsed = [n.notice for n in state.outbox if isinstance(n.notice, Collapsed)]
    assert collapsed, "nothing collapsed: the outage was not long enough to test this"
    # Every notice queued is sent as itself or counted in a summary.
    waiting = sum(1 for n in state.outbox if not isinstance(n.notice, Collapsed))
    assert sum(c.count for c in collapsed) + waiting == queued
    # What is left reads in order: the head, the summary, then the newest notices.
    assert isinstance(state.outbox[1].notice, Collapsed) and len(collapsed) == 1
    assert state.outbox[-1].kind == "degraded"
    # No notice is left whose thread opened in a collapsed post: it could never be sent.
    opened = {n.thread for n in state.outbox if n.kind == "alert_fired"} | set(state.messages)
    assert all(n.thread in opened for n in state.outbox if n.kind.startswith("alert_"))


def test_a_schema_1_outbox_is_sent_as_it_was_rendered() -> None:
    old = (
        '{"schema_version": 1, "outbox": [{"id": "n1", "action": "post", "channel": "#a", '
        '"thread": "t", "text": "hello", "blocks": null, "chart": null, "created_at": 1.0, '
        '"attempts": 2, "last_error": "ratelimited"}], "dead_letters": []}'
    )
    state = load_state(old)
    (note,) = state.outbox
    assert note.kind == "rendered" and note.attempts == 2 and note.channel == "#a"
    assert note.notice.action == "post" and note.notice.text == "hello"  # type: ignore[union-attr]
