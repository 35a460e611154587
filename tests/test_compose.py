"""How Slack tells each notice: the calls, the words, the charts — and that a notice read back
from the state tells exactly what it told before it was stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.analysis import Thresholds
from bot.check import CheckResult
from bot.delivery.outbox import drain
from bot.delivery.slack import SlackSender
from bot.kills import OomAlert
from bot.lifecycle import apply_check, apply_failure
from bot.model import ContainerMemory, ContainerRef, OomKill
from bot.notices import AlertFired, Collapsed, KilledContainer, Kills, Observation, Rendered
from bot.oom import KillContext, KillGroup, kill_context
from bot.render.compose import KILL_CHART_SECONDS, SlackCall, SlackComposer
from bot.settings import Settings, load_settings
from bot.silences import add_silence
from bot.state.document import ChartRequest, Notification, State, dump_state, load_state
from bot.state.memory import MemoryStore
from bot.state.store import transact
from tests.flat_checks import flat_check
from tests.slack_standin import SlackStandIn

MIB = 2**20
REF = ContainerRef("", "shop", "api-7d9f-x2", "app")
SETTINGS = load_settings(slack_channel="#alerts", timezone="UTC")
T0 = 1_800_000_000.0


def check(ws: float, at: float, kills: tuple[OomAlert, ...] = ()) -> CheckResult:
    return flat_check(REF, ws, at, SETTINGS, kills=kills, workload="deployment/api")


def calls(note: Notification) -> list[SlackCall]:
    return SlackComposer(SETTINGS).calls(note.notice, note.channel)


def story() -> State:
    """An alert's whole life: fired, escalated, reminded, resolved; a kill; an outage."""
    s = State()
    for ws, at in ((100, T0), (210, T0 + 60), (240, T0 + 120), (240, T0 + 120 + 4 * 3600)):
        apply_check(s, check(ws, at), at=at, settings=SETTINGS)
    apply_check(s, check(150, T0 + 20000), at=T0 + 20000, settings=SETTINGS)
    kill = OomKill(REF, 4, datetime.fromtimestamp(T0 + 20030, UTC), workload="deployment/api")
    context = kill_context(
        kill, working_set=(), rss=(), cache=(), usage=(), limit_bytes=256 * MIB, request_bytes=None
    )
    oom = OomAlert(kill, context, KillGroup("deployment/api", (kill,)), None)
    apply_check(s, check(100, T0 + 20060, (oom,)), at=T0 + 20060, settings=SETTINGS)
    apply_failure(s, "cannot reach Prometheus", at=T0 + 20120, settings=SETTINGS)
    apply_check(s, check(100, T0 + 20180), at=T0 + 20180, settings=SETTINGS)
    return s


def test_each_notice_takes_the_calls_its_story_needs() -> None:
    told = [(n.kind, [(c.action, c.text.split("\n")[0]) for c in calls(n)]) for n in story().outbox]
    where = "shop/deployment/api · app"
    chart = ("upload", "memory chart")
    assert told == [
        ("alert_fired", [("post", f":warning: *WARNING · {where}*"), chart]),
        (
            "alert_escalated",
            [
                ("update", f":rotating_light: *CRITICAL · {where}*"),
                ("reply", "Escalated to *CRITICAL* at 08:02 UTC: working set 94 % of the limit."),
            ],
        ),
        (
            "alert_reminder",
            [
                (
                    "reply",
                    "Still critical after 4 h 01 min: working set 240.0 MiB = 94 % of the limit.",
                )
            ],
        ),
        (
            "alert_resolved",
            [
                ("update", f":white_check_mark: *RESOLVED · {where}*"),
                (
                    "reply",
                    "Resolved at 13:33 UTC after 5 h 32 min: "
                    "working set 150.0 MiB = 59 % of the limit.",
                ),
            ],
        ),
        (
            "kills",
            [
                (
                    "post",
                    ":boom: *OOMKilled* · shop/api-7d9f-x2 · app · killed 13:33 UTC, restart #5 · "
                    "deployment/api",
                ),
                chart,
            ],
        ),
        (
            "degraded",
            [("post", ":construction: *Monitoring degraded*: podmem cannot read memory metrics.")],
        ),
        (
            "recovered",
            [
                (
                    "post",
                    ":white_check_mark: *Monitoring recovered* after 1 min: "
                    "checks are running again.",
                )
            ],
        ),
    ]


def test_an_escalation_is_broadcast_to_the_channel_unless_silenced() -> None:
    s = story()
    escalated = next(n for n in s.outbox if n.kind == "alert_escalated")
    assert [c.broadcast for c in calls(escalated)] == [False, True]

    quiet = State()
    apply_check(quiet, check(210, T0), at=T0, settings=SETTINGS)
    add_silence(
        quiet,
        scope="pod",
        namespace="shop",
        name=REF.pod,
        cluster="",
        until=T0 + 3600,
        by="alice",
        reason="",
        at=T0,
    )
    apply_check(quiet, check(240, T0 + 60), at=T0 + 60, settings=SETTINGS)
    silenced = quiet.outbox[-1]
    assert silenced.kind == "alert_escalated"
    (edit,) = calls(silenced)  # the message stays truthful; nobody is told
    assert edit.action == "update" and "Snoozed pod" in str(edit.blocks)


def test_charts_cover_the_alert_and_mark_the_kills() -> None:
    s = story()
    fired = next(n for n in s.outbox if n.kind == "alert_fired")
    alert_chart = calls(fired)[-1].chart
    assert alert_chart is not None
    assert (alert_chart.start, alert_chart.end) == (
        T0 + 60 - SETTINGS.report_range_seconds,
        T0 + 60,
    )
    assert alert_chart.limit_bytes == 256 * MIB
    assert not alert_chart.find_kills  # no kills to look for: no query for them
    # An alert that counts kills has its chart find them when it is drawn.
    looping = AlertFired(
        severity="warning",
        seen=Observation(
            memory=ContainerMemory(REF, working_set_bytes=40 * MIB, limit_bytes=256 * MIB),
            at=T0,
            oom_kills=3,
        ),
    )
    looping_chart = SlackComposer(SETTINGS).calls(looping, "#alerts")[-1].chart
    assert looping_chart is not None and looping_chart.find_kills
    kills = next(n for n in s.outbox if n.kind == "kills")
    kill_chart = calls(kills)[-1].chart
    assert kill_chart is not None and kill_chart.kills == [T0 + 20030]
    assert (kill_chart.start, kill_chart.end) == (T0 + 20030 - KILL_CHART_SECONDS, T0 + 20060)


def test_a_notice_read_back_from_the_state_tells_the_same() -> None:
    s = story()
    s.outbox.append(
        Notification(
            id="n999",
            channel="#alerts",
            thread="t",
            notice=Collapsed(count=3, kinds={"alert_fired": 3}, first_at=T0, last_at=T0 + 600),
            created_at=T0,
        )
    )
    again = load_state(dump_state(s))
    assert again == s
    assert [calls(n) for n in again.outbox] == [calls(n) for n in s.outbox]
    assert "3 notices could not be delivered" in calls(again.outbox[-1])[0].text


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


def talking_to(slack: SlackStandIn) -> Settings:
    return load_settings(
        slack_channel="#alerts",
        slack_api_url=slack.api_url,
        slack_bot_token="xoxb-test",
        slack_channel_interval_seconds=0,
    )


def test_slack_receives_the_escalation_in_the_channel_and_old_messages_as_they_were(
    slack: SlackStandIn,
) -> None:
    settings = talking_to(slack)
    store = MemoryStore()

    def legacy(state: State) -> None:
        rendered = Rendered(action="post", text="queued by podmem 0.x")
        state.outbox.append(
            Notification(id="n0", channel="#alerts", thread="old", notice=rendered, created_at=T0)
        )

    transact(store, legacy)
    for ws, at in ((210, T0), (240, T0 + 60)):
        transact(
            store, lambda s, ws=ws, at=at: apply_check(s, check(ws, at), at=at, settings=settings)
        )
    report = drain(store, SlackSender(settings))  # no chart maker: the charts are skipped
    posts = slack.calls_to("chat.postMessage")
    assert [c.args.get("text", "").split("\n")[0] for c in posts] == [
        "queued by podmem 0.x",
        ":warning: *WARNING · shop/deployment/api · app*",
        "Escalated to *CRITICAL* at 08:01 UTC: working set 94 % of the limit.",
    ]
    assert posts[2].args.get("reply_broadcast") in (True, "true", "1")
    (edit,) = slack.calls_to("chat.update")  # the post became critical, in place
    assert posts[2].args["thread_ts"] == edit.args["ts"]  # the note is in the alert's thread
    assert report.pending == 0 and not store.read()[0].outbox


def test_buttons_snooze_the_workload_and_mute_asks_first_and_expires() -> None:
    from bot.silences import apply_button

    fired = next(n for n in story().outbox if n.kind == "alert_fired")
    (actions,) = [b for b in calls(fired)[0].blocks or [] if b["type"] == "actions"]
    mute = next(e for e in actions["elements"] if e["action_id"] == "podmem_mute_workload")
    assert mute["confirm"]["title"]["text"] == "Mute workload?"
    assert "for 7 days" in mute["confirm"]["text"]["text"]
    assert not any("confirm" in e for e in actions["elements"] if e is not mute)

    state = State()
    where = {"cluster": "", "namespace": "shop", "pod": REF.pod, "container": "app"}
    muted = apply_button(
        state,
        action="podmem_mute_workload",
        workload="deployment/api",
        by="alice",
        at=T0,
        mute_seconds=SETTINGS.mute_seconds,
        **where,
    )
    assert muted is not None and muted.until == T0 + 7 * 86400  # never "forever" by a click
    snoozed = apply_button(
        state, action="podmem_snooze_1h", workload="", by="bob", at=T0, mute_seconds=60, **where
    )
    # A bare pod has no workload to outlive: its container is snoozed.
    assert snoozed is not None and (snoozed.scope, snoozed.name) == ("container", f"{REF.pod}/app")


def test_the_menu_snoozes_one_pods_container_and_the_rest_of_the_workload_still_alerts() -> None:
    from bot.silences import apply_button

    fired = next(n for n in story().outbox if n.kind == "alert_fired")
    (actions,) = [b for b in calls(fired)[0].blocks or [] if b["type"] == "actions"]
    (menu,) = [e for e in actions["elements"] if e["type"] == "overflow"]
    assert menu["action_id"] == "podmem_snooze_container"
    labels = [o["text"]["text"] for o in menu["options"]]
    assert labels == ["Snooze only this pod's app, 1h", "Snooze only this pod's app, 24h"]
    value = json.loads(menu["options"][1]["value"])
    assert (value["p"], value["k"], value["d"]) == (REF.pod, "app", "24h")

    state = State()
    snoozed = apply_button(
        state,
        action="podmem_snooze_container",
        cluster=value["c"],
        namespace=value["n"],
        pod=value["p"],
        container=value["k"],
        workload=value["w"],
        by="carol",
        at=T0,
        mute_seconds=60,
        span=value["d"],
    )
    assert snoozed is not None and (snoozed.scope, snoozed.until) == ("container", T0 + 86400)
    sibling = ContainerRef("", "shop", "api-7d9f-y3", "app")
    for ref in (REF, sibling):
        apply_check(
            state,
            flat_check(ref, 230, T0 + 60, SETTINGS, workload="deployment/api"),
            at=T0 + 60,
            settings=SETTINGS,
        )
    fired_now = [n.notice for n in state.outbox if isinstance(n.notice, AlertFired)]
    assert [f.seen.memory.ref.pod for f in fired_now] == ["api-7d9f-y3"]


def test_no_menu_when_its_value_would_not_fit_slack() -> None:
    from bot.render.messages import Renderer

    long_pod = "p" * 140
    actions = (
        Renderer(SETTINGS)
        .actions(ContainerRef("", "shop", long_pod, "app"), "deployment/api")
        .to_dict()
    )
    assert [e["type"] for e in actions["elements"]].count("overflow") == 0
    assert any(e["action_id"] == "podmem_snooze_1h" for e in actions["elements"])


def test_a_crash_loop_of_six_kills_in_an_hour_is_one_message_with_the_rest_in_its_thread(
    slack: SlackStandIn,
) -> None:
    settings = talking_to(slack)
    store = MemoryStore()

    def cycle(at: float, restart: int | None = None) -> None:
        """A check at `at`, with a kill 30 s before it (restart count `restart`)."""
        kills: tuple[OomAlert, ...] = ()
        if restart is not None:
            when = datetime.fromtimestamp(at - 30, UTC)
            kill = OomKill(REF, restart, when, workload="deployment/api")
            context = kill_context(
                kill,
                working_set=(),
                rss=(),
                cache=(),
                usage=(),
                limit_bytes=256 * MIB,
                request_bytes=None,
            )
            kills = (OomAlert(kill, context, KillGroup("deployment/api", (kill,)), None),)
        result = check(60, at, kills)
        transact(store, lambda s: apply_check(s, result, at=at, settings=settings))
        drain(store, SlackSender(settings))

    def kill_posts() -> list[dict[str, object]]:
        return [m for m in slack.top_level("#alerts") if "OOMKilled" in str(m["text"])]

    cycle(T0)
    for n in range(6):  # killed every 11 minutes: each kill a group of its own
        cycle(T0 + 60 + n * 660, restart=n)
    (first,) = kill_posts()
    later = slack.thread("#alerts", str(first["ts"]))
    assert len(later) == 5 and all("OOMKilled" in m["text"] for m in later)
    # More than an hour after the last kill, the next one is news again: a new message.
    cycle(T0 + 60 + 5 * 660 + 3700, restart=6)
    assert len(kill_posts()) == 2


def test_a_critical_alert_and_a_kill_call_the_owner_a_warning_does_not() -> None:
    from dataclasses import replace as changed

    from bot.notices import AlertFired, KilledContainer, Kills, Observation
    from bot.render.messages import Renderer

    owned = changed(check(240, T0).assessments[0].memory, owner_id="U0OWNER")
    seen = Observation(memory=owned, at=T0)
    note = Notification(
        id="n1",
        channel="#alerts",
        thread="t",
        notice=AlertFired(severity="critical", seen=seen),
        created_at=T0,
    )
    assert "<@U0OWNER> " in calls(note)[0].text
    warning = note.model_copy(update={"notice": AlertFired(severity="warning", seen=seen)})
    assert "<@U0OWNER>" not in calls(warning)[0].text
    team = Observation(memory=changed(owned, owner_id="S0TEAM"), at=T0)
    escalated = Renderer(SETTINGS).escalated(
        team.assessment(Thresholds.from_settings(SETTINGS)), T0
    )
    assert escalated.text.startswith("<!subteam^S0TEAM> Escalated")
    kill = OomKill(REF, 1, datetime.fromtimestamp(T0, UTC), workload="deployment/api")
    context = kill_context(
        kill, working_set=(), rss=(), cache=(), usage=(), limit_bytes=256 * MIB, request_bytes=None
    )
    told = Kills(kills=[KilledContainer(kill=kill, context=context, owner_id="U0OWNER")], at=T0)
    kill_note = note.model_copy(update={"notice": told})
    assert "<@U0OWNER> " in calls(kill_note)[0].text


def test_a_kill_chart_marks_every_kill_the_message_counts() -> None:
    """Old kube-state-metrics: of three restarts between two scrapes only the last has a
    time (the scrape's). The message says 3 OOM kills; so does the chart's request."""

    def killed(restart: int, at: float | None, exact: bool) -> KilledContainer:
        when = None if at is None else datetime.fromtimestamp(at, UTC)
        kill = OomKill(REF, restart, when, workload="deployment/api", time_exact=exact)
        return KilledContainer(kill=kill, context=KillContext(limit_bytes=256 * MIB))

    notice = Kills(
        kills=[killed(2, None, False), killed(3, T0 + 20000, False), killed(4, T0 + 20030, True)],
        at=T0 + 20060,
    )
    told = SlackComposer(SETTINGS).calls(notice, "#alerts")
    assert "3 OOM kills" in told[0].text
    chart = told[-1].chart
    assert chart is not None
    assert chart.kills == [T0 + 20030]
    assert chart.approximate_kills == [T0 + 20000, T0 + 20000]  # by the scrape that saw them
    assert chart.start == T0 + 20000 - KILL_CHART_SECONDS


def test_chart_requests_stored_before_approximate_kills_and_verdicts_still_load() -> None:
    stored = {
        "namespace": "shop",
        "pod": "api-7d9f-x2",
        "container": "app",
        "start": T0,
        "end": T0 + 3600,
        "kills": [T0 + 1800],
        "bars": [
            {
                "cluster": "",
                "namespace": "shop",
                "pod": "api-7d9f-x2",
                "container": "app",
                "working_set_bytes": 200 * MIB,
                "usage_bytes": 210 * MIB,
                "limit_bytes": 256 * MIB,
            }
        ],
    }
    request = ChartRequest.model_validate(stored)
    assert request.kills == [T0 + 1800] and request.approximate_kills == []
    assert request.bars is not None and request.bars[0].verdict is None


def test_a_kill_seen_only_by_a_scrape_says_its_time_is_approximate() -> None:
    from bot.render.messages import Renderer

    render = Renderer(SETTINGS)
    at = datetime.fromtimestamp(T0, UTC)
    assert render.kill_time(OomKill(REF, 3, at)) == render.clock(T0)
    assert render.kill_time(OomKill(REF, 3, at, time_exact=False)) == "~" + render.clock(T0)
    assert render.kill_time(OomKill(REF, 3)) == "in the last minutes"
