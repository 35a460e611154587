"""Routes by cluster and severity, fanned out to several channels: decided by the lifecycle,
delivered through the Slack stand-in, each channel with its own messages and threads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

import pytest

from bot.delivery.outbox import drain
from bot.delivery.slack import SlackSender
from bot.kills import OomAlert
from bot.lifecycle import apply_check
from bot.model import ContainerRef, OomKill
from bot.notices import AlertEscalated, AlertFired, AlertResolved, Kills
from bot.oom import KillGroup, kill_context
from bot.routing import destinations, every_destination
from bot.settings import ConfigError, Settings, load_settings
from bot.state.document import SCHEMA_VERSION, State, dump_state, load_state
from bot.state.memory import MemoryStore
from bot.state.store import transact
from tests.flat_checks import flat_check
from tests.slack_standin import SlackStandIn

T0 = 1_800_000_000.0
REF = ContainerRef("eu-1", "shop", "api-7d9f-x2", "app")
# The on-call hears every critical alert of the production clusters; the team hears its own.
ROUTES = [
    {"channel": "#oncall", "clusters": ["eu-*"], "severities": ["critical"], "continue": True},
    {"channel": "#team-shop", "channels": ["#shop-leads"], "namespaces": ["shop"]},
    {"channel": "#never", "namespaces": ["shop"]},  # after a match without continue: unused
]


MIB = 2**20


def _kill(restart: int, finished: float) -> OomAlert:
    kill = OomKill(REF, restart, datetime.fromtimestamp(finished, UTC), workload="deployment/api")
    context = kill_context(
        kill, working_set=(), rss=(), cache=(), usage=(), limit_bytes=256 * MIB, request_bytes=None
    )
    return OomAlert(kill, context, KillGroup("deployment/api", (kill,)), None)


def routed(**extra: object) -> Settings:
    return load_settings(slack_channel="#alerts", routes=ROUTES, **extra)


def test_routes_match_cluster_and_severity_and_continue_fans_out() -> None:
    settings = routed()

    def channels(ref: ContainerRef, severity: str | None) -> tuple[str, ...]:
        return destinations(ref, {}, settings, severity).channels  # type: ignore[arg-type]

    assert channels(REF, "critical") == ("#oncall", "#team-shop", "#shop-leads")
    assert channels(REF, "warning") == ("#team-shop", "#shop-leads")
    us = ContainerRef("us-1", "shop", "api-1", "app")
    assert channels(us, "critical") == ("#team-shop", "#shop-leads")  # cluster glob fails
    assert channels(ContainerRef("eu-1", "web", "w", "c"), "critical") == ("#oncall",)
    # No route matched a warning of web: the default channel. A digest (no severity) never
    # goes to a severity-only route.
    assert channels(ContainerRef("eu-1", "web", "w", "c"), "warning") == ("#alerts",)
    assert channels(REF, None) == ("#team-shop", "#shop-leads")
    assert every_destination(settings).channels == ("#alerts",)


def test_a_route_must_go_somewhere_and_name_known_severities() -> None:
    with pytest.raises(ConfigError, match=r"routes\.0"):
        load_settings(routes=[{"namespaces": ["shop"]}])
    with pytest.raises(ConfigError, match="severities"):
        load_settings(slack_channel="#a", routes=[{"channel": "#b", "severities": ["page"]}])


def test_a_warning_told_to_the_team_reaches_the_oncall_when_it_becomes_critical() -> None:
    settings = routed()
    state = State()
    step = partial(apply_check, state, settings=settings)
    step(flat_check(REF, 215, T0, settings), at=T0)  # 84 %: warning
    assert [(n.channel, n.kind) for n in state.outbox] == [
        ("#team-shop", "alert_fired"),
        ("#shop-leads", "alert_fired"),
    ]
    state.outbox.clear()
    step(flat_check(REF, 245, T0 + 60, settings), at=T0 + 60)  # 96 %: critical
    told = [(n.channel, n.kind) for n in state.outbox]
    assert told == [
        ("#team-shop", "alert_escalated"),
        ("#shop-leads", "alert_escalated"),
        ("#oncall", "alert_fired"),  # new to it: a post of its own, critical
    ]
    fired = state.outbox[-1].notice
    assert isinstance(fired, AlertFired) and fired.severity == "critical"
    assert isinstance(state.outbox[0].notice, AlertEscalated)
    state.outbox.clear()
    step(flat_check(REF, 100, T0 + 120, settings), at=T0 + 120)
    assert [(n.channel, n.kind) for n in state.outbox] == [
        ("#team-shop", "alert_resolved"),
        ("#shop-leads", "alert_resolved"),
        ("#oncall", "alert_resolved"),  # the on-call hears it is over, too
    ]
    assert all(isinstance(n.notice, AlertResolved) for n in state.outbox)


def test_kills_go_to_every_routed_channel_and_loop_in_each_ones_thread() -> None:
    settings = routed()
    state = State()
    first, second = _kill(3, T0 + 30), _kill(4, T0 + 90)
    apply_check(state, flat_check(REF, 100, T0, settings), at=T0, settings=settings)
    apply_check(
        state,
        flat_check(REF, 100, T0 + 60, settings, kills=(first,)),
        at=T0 + 60,
        settings=settings,
    )
    apply_check(
        state,
        flat_check(REF, 100, T0 + 120, settings, kills=(first, second)),
        at=T0 + 120,
        settings=settings,
    )
    told = [(n.channel, n.thread, n.notice) for n in state.outbox]
    assert [c for c, _, _ in told] == ["#oncall", "#team-shop", "#shop-leads"] * 2
    assert len({t for _, t, _ in told}) == 1  # one conversation, in each channel
    follow_ups = [n.follow_up for _, _, n in told if isinstance(n, Kills)]
    assert follow_ups == [False] * 3 + [True] * 3


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


def test_each_channel_gets_its_own_message_and_edits_land_in_it(slack: SlackStandIn) -> None:
    settings = routed(
        slack_api_url=slack.api_url, slack_bot_token="xoxb-test", slack_channel_interval_seconds=0
    )
    store = MemoryStore()
    for ws, at in ((215, T0), (245, T0 + 60), (100, T0 + 120)):
        result = flat_check(REF, ws, at, settings)
        transact(store, partial(apply_check, result=result, at=at, settings=settings))
        assert drain(store, SlackSender(settings)).pending == 0
    for channel in ("#team-shop", "#shop-leads", "#oncall"):
        (post,) = slack.top_level(channel)  # one message each, edited in place
        assert post["edits"] >= 1 and "RESOLVED" in post["text"].upper(), (channel, post)
        assert slack.thread(channel, post["ts"]), channel  # the story in its own thread
    # The escalation reached the team and the leads as a broadcast reply, the on-call as a
    # critical post: nobody learns of it from an edit alone.
    broadcast = [c for c in slack.calls_to("chat.postMessage") if c.args.get("reply_broadcast")]
    assert sorted(slack.channel_id(c.args["channel"]) for c in broadcast) == sorted(
        slack.channel_id(ch) for ch in ("#team-shop", "#shop-leads")
    )


def test_a_schema_2_state_loads_with_its_alert_in_one_channel() -> None:
    old = {
        "schema_version": 2,
        "alerts": {
            "memory/eu-1/shop/api/app": {
                "key": "memory/eu-1/shop/api/app",
                "cluster": "eu-1",
                "namespace": "shop",
                "pod": "api",
                "container": "app",
                "severity": "warning",
                "channel": "#team-shop",
                "fired_at": T0,
                "last_notified_at": T0,
                "last_seen_at": T0,
                "webhook": "https://pager.example/hook",
                "storm": "storm/namespace/shop/1",
            }
        },
        "kill_threads": {
            "eu-1/shop/deployment/api": {"thread": "oom/x", "channel": "#t", "last_at": T0}
        },
        "messages": {"memory/eu-1/shop/api/app": {"channel": "C1", "ts": "1.0", "posted_at": T0}},
    }
    state = load_state(json.dumps(old))
    (record,) = state.alerts.values()
    assert record.channels == ["#team-shop"] and record.webhooks == ["https://pager.example/hook"]
    assert record.storms == {"#team-shop": "storm/namespace/shop/1"}
    assert state.kill_threads["eu-1/shop/deployment/api"].channels == ["#t"]
    assert state.schema_version == SCHEMA_VERSION
    assert json.loads(dump_state(state))["schema_version"] == SCHEMA_VERSION
