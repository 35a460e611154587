"""Access rules hold at every door: the command, every button, `--share`; channels by ID.

Each test sends what a hostile user can send: a signed request whose button value names a
namespace they may not see (Slack signs whatever the client puts in a value), a channel
named after a ruled one, a share into a channel whose rule does not cover the namespace.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings.slack import AccessRule
from bot.silences import add_silence
from bot.slack_app.access import Access
from bot.state.store import transact
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.http_bot import Bot, start_bot
from tests.slack_requests import action_form, signed_post
from tests.slack_standin import SlackStandIn

AT = "--at 2026-11-01T02:10:00Z"
NO_PROMETHEUS = "http://127.0.0.1:9"  # the silence buttons and `silences` never ask it
BILLING_ONLY = [{"namespaces": ["billing"], "users": ["U0ALICE"]}]
FRONTEND = {"c": "", "n": "web", "p": "frontend-6b8c-m2n7v", "k": "app", "w": "deployment/frontend"}


@pytest.fixture
def billing_bot(tmp_path: Path) -> Iterator[Bot]:
    with SlackStandIn() as slack:
        started, stop = start_bot(slack, NO_PROMETHEUS, tmp_path, access_rules=BILLING_ONLY)
        yield started
        stop()


def click(bot: Bot, action: str, value: dict[str, str], name: str, **form: Any) -> None:
    posted = action_form(
        action, value, response_url=bot.slack.response_url(name), channel="C0ALERTS", **form
    )
    assert signed_post(bot.events, posted).status_code == 200


def text_of(answer: dict[str, Any]) -> str:
    return str(answer.get("text", ""))


@pytest.mark.parametrize(
    ("action", "extra", "overflow"),
    [
        ("podmem_snooze_1h", {}, False),
        ("podmem_snooze_24h", {}, False),
        ("podmem_mute_workload", {}, False),
        ("podmem_snooze_container", {"d": "24h"}, True),
    ],
)
def test_a_forged_silence_button_outside_the_rule_is_refused(
    billing_bot: Bot, action: str, extra: dict[str, str], overflow: bool
) -> None:
    """Allowed only `billing`, Alice muted web/deployment/frontend for good: no more."""
    click(billing_bot, action, {**FRONTEND, **extra}, "forged", overflow=overflow)
    (answer,) = billing_bot.answers("forged")
    assert "may not act on namespace web" in text_of(answer)
    assert billing_bot.store.read()[0].silences == []


def test_the_same_button_inside_the_rule_works(billing_bot: Bot) -> None:
    value = {**FRONTEND, "n": "billing"}
    click(billing_bot, "podmem_mute_workload", value, "ok")
    deadline = time.monotonic() + 30
    while not billing_bot.store.read()[0].silences and time.monotonic() < deadline:
        time.sleep(0.05)
    (silence,) = billing_bot.store.read()[0].silences
    assert (silence.namespace, silence.name) == ("billing", "deployment/frontend")
    assert billing_bot.slack.responses("ok") == []


def _silence(bot: Bot, namespace: str) -> str:
    def add(state: Any) -> str:
        made = add_silence(
            state,
            scope="workload",
            namespace=namespace,
            name="deployment/frontend",
            cluster="",
            until=None,
            by="<@U0BOB>",
            reason="",
            at=time.time(),
        )
        return str(made.id)

    return transact(bot.store, add)


def test_unmute_buttons_outside_the_rule_lift_nothing(billing_bot: Bot) -> None:
    web = _silence(billing_bot, "web")
    # The alert's own Unmute button, forged for web...
    click(billing_bot, "podmem_unmute", FRONTEND, "unmute")
    assert "may not act on namespace web" in text_of(billing_bot.answers("unmute")[0])
    # ...and the listing's, with the silence's ID: the same answer as a silence that is gone.
    click(billing_bot, "podmem_unsilence", {"id": web}, "unsilence")
    click(billing_bot, "podmem_unsilence", {"id": "no-such-id"}, "gone")
    refused = text_of(billing_bot.answers("unsilence")[0])
    assert refused == text_of(billing_bot.answers("gone")[0])
    assert "No such silence you may lift" in refused
    assert [s.id for s in billing_bot.store.read()[0].silences] == [web]
    billing = _silence(billing_bot, "billing")
    click(billing_bot, "podmem_unsilence", {"id": billing}, "mine")
    assert "Unmuted workload billing/deployment/frontend" in text_of(billing_bot.answers("mine")[0])
    assert [s.id for s in billing_bot.store.read()[0].silences] == [web]


def test_silence_buttons_share_the_rate_limit(billing_bot: Bot) -> None:
    value = {**FRONTEND, "n": "billing"}
    for i in range(11):
        click(billing_bot, "podmem_snooze_1h", value, f"s{i}")
    # The work runs on Bolt's workers, so which click comes last is theirs to decide.
    deadline, refused = time.monotonic() + 30, []
    while not refused and time.monotonic() < deadline:
        time.sleep(0.05)
        said = [text_of(a) for i in range(11) for a in billing_bot.slack.responses(f"s{i}")]
        refused = [t for t in said if "try again in" in t]
    assert len(refused) == 1


@pytest.fixture
def ruled(prometheus_for: PrometheusFactory, tmp_path: Path) -> Iterator[Bot]:
    """Alice may see `default` anywhere (a rule scoped to her); anyone in #teams sees team-*."""
    with SlackStandIn() as slack:
        rules = [
            {"namespaces": ["default"], "users": ["U0ALICE"]},
            {"namespaces": ["team-*"], "channels": ["#teams"]},
        ]
        slack.channel_id("#teams")  # the channel exists before podmem starts
        started, stop = start_bot(slack, prometheus_for(d.MAIN).url, tmp_path, access_rules=rules)
        yield started
        stop()


@pytest.mark.parametrize("action", ["podmem_report", "podmem_pick_0", "podmem_share"])
def test_report_buttons_outside_the_rule_reveal_nothing(ruled: Bot, action: str) -> None:
    teams = ruled.slack.channel_id("#teams")
    value = {"c": "", "n": "kube-system", "p": "coredns-5d78c9869d-abcde", "k": "coredns"}
    form = action_form(
        action, value, response_url=ruled.slack.response_url("r"), channel=teams, user="U0BOB"
    )
    assert signed_post(ruled.events, form).status_code == 200
    assert "no pod named" in text_of(ruled.answers("r")[0])
    assert ruled.slack.top_level(teams) == []


def test_share_only_what_the_channel_may_see(ruled: Bot) -> None:
    teams = ruled.slack.channel_id("#teams")
    # Alice may see default herself, but #teams may not: the post would show it to everyone.
    ruled.slash(f"default/leak-7d9f-x2 --share {AT}", "mine", channel=teams)
    assert "may not be shared into this channel" in text_of(ruled.answers("mine")[0])
    ruled.slash(f"top -n default --share {AT}", "top-ns", channel=teams)
    assert "may not be shared into this channel" in text_of(ruled.answers("top-ns")[0])
    value = {"c": "", "n": "default", "p": "leak-7d9f-x2", "k": "app"}
    form = action_form(
        "podmem_share", value, response_url=ruled.slack.response_url("button"), channel=teams
    )
    assert signed_post(ruled.events, form).status_code == 200
    assert "may not be shared into this channel" in text_of(ruled.answers("button")[0])
    assert ruled.slack.top_level(teams) == []
    # Without --share she sees it (ephemeral); what #teams may see is shared.
    ruled.slash(f"default/leak-7d9f-x2 {AT}", "look", channel=teams)
    assert "default/leak-7d9f-x2" in text_of(ruled.answers("look")[0])
    ruled.slash(f"top --share {AT}", "top", channel=teams)
    ruled.slash(f"team-a/twin-0001 --share {AT}", "pod", channel=teams)
    deadline = time.monotonic() + 30
    while len(ruled.slack.top_level(teams)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    top, pod = sorted(ruled.slack.top_level(teams), key=lambda m: "twin" in m["text"])
    assert "team-a/twin-0001" in pod["text"]
    assert "this channel may see" in str(top["blocks"]) and "default/" not in str(top["blocks"])


def test_rules_match_channels_by_id_not_by_name(tmp_path: Path) -> None:
    """A channel created and named "jobs" (the old #jobs renamed) does not inherit its rule;
    the old channel keeps it under its new name; a name Slack does not know matches nothing."""
    with SlackStandIn() as slack:
        jobs = slack.channel_id("#jobs")
        rules = [
            {"namespaces": ["batch"], "channels": ["#jobs"]},
            {"namespaces": ["*"], "channels": ["#no-such-channel"]},
        ]
        bot, stop = start_bot(slack, NO_PROMETHEUS, tmp_path, access_rules=rules)
        try:
            bot.slash("silences", "new", channel="C0NEWJOBS", channel_name="jobs")
            bot.slash("silences", "old", channel=jobs, channel_name="jobs-archive")
            assert "not enabled for you" in text_of(bot.answers("new")[0])
            assert "No active snoozes or mutes" in text_of(bot.answers("old")[0])
        finally:
            stop()
        assert [c.method for c in slack.calls].count("conversations.list") == 1


@pytest.mark.parametrize(
    ("rules", "user", "channel", "sees", "shares"),
    [
        ([], "U1", "C01", None, None),
        ([{"namespaces": ["a"], "users": ["U1"]}], "U1", "C01", ["a"], []),
        ([{"namespaces": ["a"], "channels": ["C01"]}], "U2", "C01", ["a"], ["a"]),
        ([{"namespaces": ["a"], "channels": ["C01"], "users": ["U1"]}], "U1", "C01", ["a"], []),
        ([{"namespaces": ["a"], "channels": ["#one"]}], "U1", "C0ONE", ["a"], ["a"]),
        # Unresolved: closed, never "every channel" (an empty list would mean that).
        ([{"namespaces": ["a"], "channels": ["#gone"]}], "U1", "C0ONE", [], []),
        (
            [{"namespaces": ["a"]}, {"namespaces": ["b"], "users": ["U1"]}],
            "U1",
            "C09",
            ["a", "b"],
            ["a"],
        ),
    ],
)
def test_access_rules(
    rules: list[dict[str, Any]],
    user: str,
    channel: str,
    sees: list[str] | None,
    shares: list[str] | None,
) -> None:
    access = Access([AccessRule(**r) for r in rules], {"one": "C0ONE"})
    assert access.namespaces(user_id=user, channel_id=channel) == sees
    assert access.audience(channel_id=channel) == shares
