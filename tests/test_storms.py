"""An alert storm: a bad rollout or a sick node makes dozens of containers cross together.
One message says so, with the list in its thread, instead of a post each at Slack's one
message per second per channel; what happens to each alert next is said in that thread."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from bot.analysis import Assessment, Thresholds, assess
from bot.check import CheckResult, MemoryAlert
from bot.delivery.outbox import drain
from bot.delivery.slack import SlackSender
from bot.errors import StateError
from bot.lifecycle import apply_check, shown_in_notices
from bot.model import ContainerMemory, ContainerRef
from bot.notices import AlertEscalated, AlertFired, Storm
from bot.settings import Settings, load_settings
from bot.silences import add_silence
from bot.state.document import State, dump_state, load_state
from bot.state.memory import MemoryStore
from bot.state.sqlite import SqliteStore
from bot.state.store import transact
from tests.slack_standin import SlackStandIn

MIB = 2**20
T0 = 1_800_000_000.0
SETTINGS = load_settings(slack_channel="#alerts", storm_threshold=10)


def fleet(
    count: int, ws_mib: float, at: float, *, namespace: str = "shop", node: str | None = None
) -> CheckResult:
    """`count` replicas of one rollout at the same level, on two nodes (or on `node`)."""
    rows = []
    for i in range(count):
        memory = ContainerMemory(
            ContainerRef("", namespace, f"api-7d9f-{i:03d}", "app"),
            working_set_bytes=round(ws_mib * MIB) + i * 1000,
            working_set_floor_bytes=round(ws_mib * MIB),
            rss_bytes=round(ws_mib * MIB),
            usage_bytes=round(ws_mib * MIB),
            limit_bytes=256 * MIB,
            growth_bytes_per_second=0.0,
            node=node or f"node-{i % 2}",
            workload="deployment/api",
        )
        rows.append(assess(memory, Thresholds.from_settings(SETTINGS)))
    alerts = tuple(MemoryAlert(a) for a in rows if a.verdict.is_alert)
    return CheckResult(datetime.fromtimestamp(at, UTC), tuple(rows), alerts)


def test_fifty_crossing_together_are_one_storm_notice() -> None:
    state = State()
    apply_check(state, fleet(50, 100, T0), at=T0, settings=SETTINGS)
    apply_check(state, fleet(50, 215, T0 + 60), at=T0 + 60, settings=SETTINGS)
    (note,) = state.outbox
    storm = note.notice
    assert isinstance(storm, Storm)
    assert (storm.scope, storm.name, len(storm.alerts)) == ("namespace", "shop", 50)
    assert len(state.alerts) == 50  # still 50 alerts, each with its own lifecycle
    assert {a.storms[note.channel] for a in state.alerts.values()} == {note.thread}
    # Each escalates later: a note in the storm's thread, no message of its own to edit.
    apply_check(state, fleet(50, 245, T0 + 120), at=T0 + 120, settings=SETTINGS)
    later = state.outbox[1:]
    assert len(later) == 50 and {n.thread for n in later} == {note.thread}
    assert all(isinstance(n.notice, AlertEscalated) and n.notice.in_storm for n in later)


def test_ten_replicas_crossing_together_are_no_storm_but_one_alert() -> None:
    state = State()
    apply_check(state, fleet(10, 100, T0), at=T0, settings=SETTINGS)
    apply_check(state, fleet(10, 215, T0 + 60), at=T0 + 60, settings=SETTINGS)
    (note,) = state.outbox  # 10 is not more than 10: no storm; one workload: one alert
    assert isinstance(note.notice, AlertFired)
    assert (len(note.notice.others), note.notice.replicas) == (9, 10)


def test_a_sick_node_is_a_storm_across_namespaces() -> None:
    """4 alerts in each of 3 namespaces is no namespace storm; 12 on one node is a node's."""
    state = State()

    def cycle(ws: float, at: float) -> CheckResult:
        parts = [fleet(4, ws, at, namespace=ns, node="sick-1") for ns in ("a", "b", "c")]
        rows = tuple(a for part in parts for a in part.assessments)
        alerts = tuple(alert for part in parts for alert in part.alerts)
        return CheckResult(datetime.fromtimestamp(at, UTC), rows, alerts)

    apply_check(state, cycle(100, T0), at=T0, settings=SETTINGS)
    apply_check(state, cycle(215, T0 + 60), at=T0 + 60, settings=SETTINGS)
    (note,) = state.outbox
    assert isinstance(note.notice, Storm)
    assert (note.notice.scope, note.notice.name, len(note.notice.alerts)) == ("node", "sick-1", 12)


def many_namespaces(ws: float, at: float, spread: dict[str, int]) -> CheckResult:
    """`spread[ns]` replicas in each namespace, on two nodes."""
    parts = [fleet(n, ws, at, namespace=ns) for ns, n in spread.items()]
    rows = tuple(a for part in parts for a in part.assessments)
    alerts = tuple(alert for part in parts for alert in part.alerts)
    return CheckResult(datetime.fromtimestamp(at, UTC), rows, alerts)


def test_storms_of_several_namespaces_in_one_channel_are_one_storm() -> None:
    """A node pool goes bad: three namespaces storm in one check. The channel gets one storm
    of all 45, not three messages; each alert's news goes to that one thread."""
    state = State()
    spread = {"shop": 15, "cart": 15, "search": 15}
    apply_check(state, many_namespaces(100, T0, spread), at=T0, settings=SETTINGS)
    apply_check(state, many_namespaces(215, T0 + 60, spread), at=T0 + 60, settings=SETTINGS)
    (note,) = state.outbox
    storm = note.notice
    assert isinstance(storm, Storm)
    assert (storm.scope, storm.name, len(storm.alerts)) == ("channel", "", 45)
    assert {m.ref[1] for m in storm.alerts} == set(spread)
    assert {a.storms[note.channel] for a in state.alerts.values()} == {note.thread}
    apply_check(state, many_namespaces(245, T0 + 120, spread), at=T0 + 120, settings=SETTINGS)
    assert {n.thread for n in state.outbox[1:]} == {note.thread}


def test_a_storm_goes_out_before_the_checks_other_news() -> None:
    """The storm is the check's biggest news, and while it waits every message sent before it
    writes it into the state again: it is queued first, ahead of an alert of the same check
    that is no part of it (a namespace of two)."""
    state = State()
    spread = {"shop": 15, "cart": 15, "search": 2}
    apply_check(state, many_namespaces(100, T0, spread), at=T0, settings=SETTINGS)
    apply_check(state, many_namespaces(215, T0 + 60, spread), at=T0 + 60, settings=SETTINGS)
    assert [n.notice.kind for n in state.outbox] == ["storm", "alert_fired"]
    storm, alone = (n.notice for n in state.outbox)
    assert isinstance(storm, Storm) and isinstance(alone, AlertFired)
    assert {m.ref[1] for m in storm.alerts} == {"shop", "cart"}
    assert alone.seen.memory.ref.namespace == "search"


def test_each_channel_gets_its_own_storm_when_routes_split_them() -> None:
    """Folding is per channel: a team routed to its own channel keeps its namespace's storm
    there; the default channel gets one storm of the other two namespaces."""
    settings = load_settings(
        slack_channel="#alerts",
        storm_threshold=10,
        routes=[{"channel": "#shop", "namespaces": ["shop"]}],
    )
    state = State()
    spread = {"shop": 15, "cart": 15, "search": 15}
    apply_check(state, many_namespaces(100, T0, spread), at=T0, settings=settings)
    apply_check(state, many_namespaces(215, T0 + 60, spread), at=T0 + 60, settings=settings)
    storms = {n.channel: n.notice for n in state.outbox}
    assert set(storms) == {"#shop", "#alerts"}
    shop, rest = storms["#shop"], storms["#alerts"]
    assert isinstance(shop, Storm) and isinstance(rest, Storm)
    assert (shop.scope, shop.name, len(shop.alerts)) == ("namespace", "shop", 15)
    assert (rest.scope, len(rest.alerts)) == ("channel", 30)
    assert {m.ref[1] for m in rest.alerts} == {"cart", "search"}


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


def settings_for(slack: SlackStandIn) -> Settings:
    return load_settings(
        slack_channel="#alerts",
        slack_api_url=slack.api_url,
        slack_bot_token="xoxb-test",
        slack_channel_interval_seconds=0,
        storm_threshold=10,
    )


def test_slack_gets_one_storm_message_and_the_list_and_news_in_its_thread(
    slack: SlackStandIn,
) -> None:
    settings = settings_for(slack)
    store = MemoryStore()
    sender = SlackSender(settings)
    for ws, at in ((100, T0), (215, T0 + 60)):
        transact(store, partial(apply_check, result=fleet(50, ws, at), at=at, settings=settings))
    drain(store, sender)
    (storm,) = slack.top_level("#alerts")
    assert storm["text"].startswith(":thunder_cloud_and_rain: *MEMORY STORM · 50 alerts")
    assert "· all deployment/api" in storm["text"]
    assert storm["text"].count("`shop/api-7d9f-") == 10  # the worst ten; the rest in the thread
    (listing,) = slack.thread("#alerts", storm["ts"])
    assert listing["text"].startswith("All 50 alerts:") and listing["text"].count("`shop/") == 50

    transact(
        store, partial(apply_check, result=fleet(50, 245, T0 + 120), at=T0 + 120, settings=settings)
    )
    drain(store, sender)
    assert len(slack.top_level("#alerts")) == 1  # still one message in the channel
    assert slack.calls_to("chat.update") == []  # nothing of its own to edit
    notes = slack.thread("#alerts", storm["ts"])[1:]
    assert len(notes) == 50
    assert notes[0]["text"].startswith("`shop/api-7d9f-")
    assert "Escalated to *CRITICAL*" in notes[0]["text"]


def test_slack_gets_one_message_for_storms_across_namespaces(slack: SlackStandIn) -> None:
    """What the on-call reads: one post saying how many namespaces, which ones and which nodes
    (the biggest first), the worst ten, and every alert in its thread."""
    settings = settings_for(slack)
    store = MemoryStore()
    sender = SlackSender(settings)
    spread = {f"team-{i}": 12 + i for i in range(7)}  # 12..18 alerts each: 105 in all
    for ws, at in ((100, T0), (215, T0 + 60)):
        result = many_namespaces(ws, at, spread)
        transact(store, partial(apply_check, result=result, at=at, settings=settings))
    drain(store, sender)
    (storm,) = slack.top_level("#alerts")
    text = storm["text"]
    assert text.startswith(":thunder_cloud_and_rain: *MEMORY STORM · 105 alerts in 7 namespaces*")
    assert "Namespaces: team-6 18 · team-5 17 · team-4 16 · team-3 15 · team-2 14 · +2 more" in text
    assert "Nodes: node-0 54 · node-1 51" in text
    assert text.count("`team-") == 10  # the worst ten; the rest in the thread
    (listing,) = slack.thread("#alerts", storm["ts"])
    assert listing["text"].startswith("All 105 alerts:")  # the notification: its start
    listed = "".join(b["text"]["text"] for b in listing["blocks"])
    assert listed.count("`team-") == 105


def replicas(levels: list[float], at: float) -> CheckResult:
    """Replicas of deployment/api, replica i at levels[i] MiB of a 256 MiB limit."""
    rows = [
        _renamed(fleet(1, level, at).assessments[0], f"api-7d9f-r{i}")
        for i, level in enumerate(levels)
    ]
    alerts = tuple(MemoryAlert(a) for a in rows if a.verdict.is_alert)
    return CheckResult(datetime.fromtimestamp(at, UTC), tuple(rows), alerts)


def _renamed(a: Assessment, pod: str) -> Assessment:
    ref = a.memory.ref
    memory = replace(a.memory, ref=ContainerRef(ref.cluster, ref.namespace, pod, ref.container))
    return assess(memory, a.thresholds)


def test_replicas_crossing_together_are_one_alert_naming_the_others(slack: SlackStandIn) -> None:
    settings = settings_for(slack)
    store = MemoryStore()
    sender = SlackSender(settings)
    steps = (([100] * 5, T0), ([100, 100, 214, 216, 230], T0 + 60))
    for levels, at in steps:
        transact(store, partial(apply_check, result=replicas(levels, at), at=at, settings=settings))
    state, _ = store.read()
    (fired,) = [n.notice for n in state.outbox if isinstance(n.notice, AlertFired)]
    assert fired.seen.memory.ref.pod == "api-7d9f-r4"  # the worst leads
    assert [o.ref[2] for o in fired.others] == ["api-7d9f-r3", "api-7d9f-r2"]
    assert fired.replicas == 5
    assert len(state.alerts) == 3  # each replica keeps its own lifecycle
    drain(store, sender)
    (post,) = slack.top_level("#alerts")
    assert "3 of 5 replicas; the worst: " in post["text"]
    assert "shop/api-7d9f-r3" in str(post["blocks"]) and "shop/api-7d9f-r2" in str(post["blocks"])
    # r2 goes critical: a line in the alert's thread, no post of its own.
    at = T0 + 120
    transact(
        store,
        partial(
            apply_check, result=replicas([100, 100, 245, 216, 230], at), at=at, settings=settings
        ),
    )
    drain(store, sender)
    assert len(slack.top_level("#alerts")) == 1
    (note,) = [m for m in slack.thread("#alerts", post["ts"]) if not m.get("files")]
    assert note["text"].startswith("`shop/api-7d9f-r2 · app`: Escalated to *CRITICAL*")


def test_a_replica_crossing_later_joins_its_workloads_open_alert(slack: SlackStandIn) -> None:
    settings = settings_for(slack)
    store = MemoryStore()
    sender = SlackSender(settings)
    steps = (
        ([100, 100, 230], T0),
        ([100, 100, 230], T0 + 60),  # r2 fired alone: its own post
        ([100, 218, 230], T0 + 120),  # r1 crosses while r2's alert is open: it joins
    )
    for levels, at in steps:
        transact(store, partial(apply_check, result=replicas(levels, at), at=at, settings=settings))
        drain(store, sender)
    (post,) = slack.top_level("#alerts")
    assert "api-7d9f-r2" in str(post["blocks"])
    (line,) = [m for m in slack.thread("#alerts", post["ts"]) if not m.get("files")]
    assert line["text"].startswith("`shop/api-7d9f-r1 · app`: also *WARNING* — ")
    state, _ = store.read()
    assert state.alerts["memory//shop/api-7d9f-r1/app"].storms == {
        "#alerts": "memory//shop/api-7d9f-r2/app"
    }
    # Its later news goes to the same thread: resolved, a line there too.
    transact(
        store,
        partial(
            apply_check, result=replicas([100, 100, 230], T0 + 180), at=T0 + 180, settings=settings
        ),
    )
    drain(store, sender)
    assert len(slack.top_level("#alerts")) == 1
    lines = [m["text"] for m in slack.thread("#alerts", post["ts"]) if not m.get("files")]
    assert len(lines) == 2 and lines[1].startswith("`shop/api-7d9f-r1 · app`: ")


def test_a_storm_of_two_thousand_alerts_fits_the_state_document() -> None:
    """An HA state lives in one ConfigMap (1 MiB): 2 000 open alerts and their storm notice
    must stay under the 900 KiB podmem allows itself, with nothing collapsed, and read back
    the same (an alert's place comes back from its key)."""
    from bot.lifecycle import MAX_STATE_BYTES
    from bot.state.document import dump_state, load_state

    state = State()
    apply_check(state, fleet(2000, 100, T0), at=T0, settings=SETTINGS)
    apply_check(state, fleet(2000, 215, T0 + 60), at=T0 + 60, settings=SETTINGS)
    assert len(state.alerts) == 2000 and [n.kind for n in state.outbox] == ["storm"]
    assert len(dump_state(state)) < MAX_STATE_BYTES
    again = load_state(dump_state(state))
    assert again.alerts == state.alerts
    record = again.alerts["memory//shop/api-7d9f-1999/app"]
    assert (record.namespace, record.pod, record.container) == ("shop", "api-7d9f-1999", "app")


LIMIT = 512 * MIB


def incident_pod(i: int) -> str:
    return f"checkout-{i // 20 % 5}-7c9f8d6b5-{i:05x}"


def incident_key(i: int) -> str:
    return f"memory//team-{i % 20:02d}/{incident_pod(i)}/app"


def incident(levels: Sequence[float | None], at: float) -> CheckResult:
    """A pod per level, as a real incident spreads them: 20 namespaces of 5 workloads each,
    12 nodes, named as Kubernetes names them; pod i at levels[i] of its limit (None: no
    data)."""
    base = Thresholds.from_settings(SETTINGS)
    rows = []
    for i, level in enumerate(levels):
        workload = f"checkout-{i // 20 % 5}"
        ws = None if level is None else round(level * LIMIT)
        memory = ContainerMemory(
            ContainerRef("", f"team-{i % 20:02d}", incident_pod(i), "app"),
            working_set_bytes=ws,
            working_set_floor_bytes=ws,
            rss_bytes=ws,
            usage_bytes=ws,
            limit_bytes=LIMIT,
            growth_bytes_per_second=0.0,
            node=f"ip-10-0-{i % 12}-17.eu-west-1.compute.internal",
            workload=f"deployment/{workload}",
        )
        rows.append(assess(memory, base))
    alerts = tuple(MemoryAlert(a) for a in rows if a.verdict.is_alert)
    return CheckResult(datetime.fromtimestamp(at, UTC), tuple(rows), alerts)


def storm_of(count: int) -> State:
    """The state once `count` containers crossed together, the storm notices waiting."""
    state = State()
    apply_check(state, incident([0.4] * count, T0), at=T0, settings=SETTINGS)
    apply_check(state, incident([0.85] * count, T0 + 60), at=T0 + 60, settings=SETTINGS)
    return state


def test_a_storm_of_two_thousand_costs_the_state_under_256_kib() -> None:
    """The members of a storm share everything but their pod: the document stores that once
    (per group of alerts, per storm notice), so 2 000 of them cost their names, not 2 000
    records. Under 256 KiB with the storm notices waiting, and far under once they went."""
    state = storm_of(2000)
    assert len(state.alerts) == 2000
    (note,) = state.outbox  # 20 namespaces' storms in one channel: one storm
    assert note.notice.kind == "storm" and len(note.notice.alerts) == 2000
    waiting = dump_state(state)
    assert len(waiting) < 256 * 1024
    again = load_state(waiting)
    assert again.alerts == state.alerts and again.outbox == state.outbox
    state.outbox.clear()
    assert len(dump_state(state)) < 100 * 1024


def test_stored_alerts_are_written_back_as_read_when_nothing_looked_at_them() -> None:
    """A drain never looks at the alerts: they go back to the document as they came, and are
    records again as soon as something asks."""
    text = dump_state(storm_of(2000))
    state = load_state(text)
    state.outbox.pop()
    assert json.loads(dump_state(state))["alerts"] == json.loads(text)["alerts"]
    record = state.alerts[incident_key(7)]
    assert record.storms == {"#alerts": f"storm/channel/#alerts/{T0 + 60:.0f}"}


def test_a_damaged_alert_group_is_damage_not_a_crash_later() -> None:
    data = json.loads(dump_state(storm_of(50)))
    data["alerts"][0]["containers"] = {"app": [None]}
    with pytest.raises(StateError, match="not podmem's state schema"):
        load_state(json.dumps(data))
    data["alerts"][0] = {"namespace": "shop", "severity": "warning"}
    with pytest.raises(StateError, match="not podmem's state schema"):
        load_state(json.dumps(data))


def test_a_member_resolves_fires_again_and_is_snoozed_as_it_would_in_memory(
    tmp_path: Path,
) -> None:
    """The same storm, once with the state kept in memory and once written to the SQLite
    store and read back between checks: the same notices at every step, the same alerts. And
    what they say is what a storm's member does: it resolves, escalates and is reminded in
    the storm's thread; it fires again on its own; a snoozed one says nothing new."""
    store = SqliteStore(tmp_path / "state.db")
    memory = State()
    n = 240
    # The on-call hears of criticals too: an escalation widens that one alert's channels.
    oncall = [{"channel": "#oncall", "severities": ["critical"], "continue": True}]
    settings = load_settings(slack_channel="#alerts", storm_threshold=10, routes=oncall)
    steps: list[tuple[float, list[float | None], bool]] = [
        (T0, [0.4] * n, False),
        (T0 + 60, [0.85] * n, False),
        # 0 resolves, 1 escalates, 2 is snoozed and escalates, 3 has no data
        (T0 + 120, [0.4, 0.95, 0.95, None, *[0.85] * (n - 4)], True),
        # 0 fires again, on its own
        (T0 + 180, [0.85, 0.95, 0.95, None, *[0.85] * (n - 4)], False),
        # reminders, four hours on
        (T0 + 60 + 4 * 3600, [0.85, 0.95, 0.95, 0.85, *[0.85] * (n - 4)], False),
    ]
    told: list[list[dict[str, object]]] = []
    for at, levels, snooze in steps:
        result = incident(levels, at)

        def step(
            state: State, at: float = at, snooze: bool = snooze, result: CheckResult = result
        ) -> list[dict[str, object]]:
            if snooze:
                add_silence(
                    state,
                    scope="container",
                    namespace="team-02",
                    name="checkout-0-7c9f8d6b5-00002/app",
                    cluster="",
                    until=at + 86400,
                    by="U1",
                    reason="",
                    at=at,
                )
            apply_check(state, result, at=at, settings=settings)
            said = [note.model_dump(mode="json") for note in state.outbox]
            state.outbox.clear()  # delivered
            return said

        in_memory = step(memory)
        stored = transact(store, step)
        assert stored == in_memory
        assert store.read()[0].alerts == memory.alerts
        told.append(in_memory)
    storm = escalated = f"storm/channel/#alerts/{T0 + 60:.0f}"  # 24 namespaces' storms, as one
    assert {n["notice"]["kind"] for n in told[1]} == {"storm"}  # type: ignore[index]
    by_pod = {
        (note["notice"]["kind"], note["notice"]["seen"]["ref"][2]): note  # type: ignore[index]
        for note in told[2]
        if "seen" in note["notice"]  # type: ignore[operator]
    }
    resolved = by_pod[("alert_resolved", "checkout-0-7c9f8d6b5-00000")]
    assert resolved["thread"] == storm and resolved["notice"]["in_storm"]  # type: ignore[index]
    assert by_pod[("alert_escalated", "checkout-0-7c9f8d6b5-00001")]["thread"] == escalated
    # Widened, alone: its neighbour in the namespace, the workload and the storm is not.
    assert memory.alerts[incident_key(1)].channels == ["#alerts", "#oncall"]
    assert memory.alerts[incident_key(21)].channels == ["#alerts"]
    snoozed = by_pod[("alert_escalated", "checkout-0-7c9f8d6b5-00002")]
    assert snoozed["notice"]["silence"]["created_by"] == "U1"  # type: ignore[index]
    (again,) = [n for n in told[3] if n["notice"]["kind"] == "alert_fired"]  # type: ignore[index]
    assert again["notice"]["seen"]["ref"][2] == "checkout-0-7c9f8d6b5-00000"  # type: ignore[index]
    assert "thread" not in again  # its own thread: no storm
    # Four hours after the storm: a reminder each, but for the one fired again and the one
    # escalated since (their clocks started later) and the snoozed one.
    reminded = {n["notice"]["seen"]["ref"][2] for n in told[4]}  # type: ignore[index]
    assert reminded == {incident_pod(i) for i in range(3, n)}


def test_a_cycle_asks_for_the_breakdown_of_what_its_notices_show_only() -> None:
    """The figures beyond judging (cache, request, the trend...) are fetched for the
    containers a notice carries: none of a storm's members (a line each, a ratio), the
    worst replica of a workload's alert, and each alert a webhook hears of on its own."""
    storm = fleet(50, 215, T0 + 60)
    assert shown_in_notices(State(), storm, at=T0 + 60, settings=SETTINGS) == set()
    crossed = replicas([100, 100, 214, 216, 230], T0 + 60)
    (lead,) = shown_in_notices(State(), crossed, at=T0 + 60, settings=SETTINGS)
    assert lead.pod == "api-7d9f-r4"
    hooked = load_settings(
        slack_channel="#alerts",
        storm_threshold=10,
        webhook_secret="s",
        routes=[{"channel": "#alerts", "webhook_url": "https://pager.example/hook"}],
    )
    told = shown_in_notices(State(), storm, at=T0 + 60, settings=hooked)
    assert len(told) == 50
    # A trial: the state it was given changed, a fresh one would not have.
    trial = State()
    shown_in_notices(trial, storm, at=T0 + 60, settings=SETTINGS)
    assert len(trial.alerts) == 50
