"""Properties: every message podmem can produce is legal Block Kit at any cluster size, and
every slash-command text gets a clear answer. Checked against slack_sdk's own validation."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot.analysis import Thresholds, assess
from bot.check import CheckResult
from bot.cycle import digest_notice
from bot.digest import Gathered, build
from bot.kills import OomAlert
from bot.lifecycle import apply_check
from bot.model import ContainerMemory, ContainerRef, OomKill, Profile
from bot.notices import DigestReady
from bot.oom import KillGroup, kill_context
from bot.render.compose import SlackComposer
from bot.render.slack import MAX_BLOCKS, Fitted, fit
from bot.scenarios import ClusterSpec, named_pod
from bot.settings import load_settings
from bot.slack_app.answers import Answers, Asker
from bot.sources.simulated import SimulatedSource
from bot.state.document import State

MIB = 2**20
SETTINGS = load_settings(
    slack_channel="#alerts", routes=[{"channel": "#team", "namespaces": ["team-1*"]}]
)
AT = datetime(2026, 11, 1, 12, tzinfo=UTC)


def assert_legal(parts: list[Fitted]) -> None:
    assert parts, "a message must have at least one part"
    for part in parts:
        assert part.text.strip()
        assert len(part.blocks) <= MAX_BLOCKS
        for block in part.blocks:
            parsed = Block.parse(block)
            assert parsed is not None
            parsed.validate_json()  # slack_sdk raises SlackObjectFormationError if illegal
            if block["type"] == "section":
                assert len(block.get("text", {}).get("text", "")) <= 3000
                assert len(block.get("fields", [])) <= 10
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= 150


def fleet(size: int, seed: int) -> list[ContainerMemory]:
    rng = random.Random(seed)
    rows = []
    for i in range(size):
        limit = rng.choice([None, 128, 256, 512, 4096])
        ws = rng.uniform(1, 1.1 * (limit or 2048))
        usage = ws + rng.uniform(0, 200)
        rows.append(
            ContainerMemory(
                ContainerRef(
                    rng.choice(["", "east"]),
                    f"team-{i % 37}",
                    f"pod-{i:05d}-{'x' * rng.randint(0, 40)}",
                    rng.choice(["app", "sidecar"]),
                ),
                working_set_bytes=round(ws * MIB),
                working_set_floor_bytes=round(ws * 0.98 * MIB),
                usage_bytes=round(usage * MIB),
                rss_bytes=round(ws * rng.uniform(0.2, 1) * MIB),
                limit_bytes=None if limit is None else limit * MIB,
                request_bytes=rng.choice([None, 64 * MIB, 2048 * MIB]),
                growth_bytes_per_second=rng.uniform(-1000, 50_000),
                workload=f"deployment/w{i % 11}",
            )
        )
    return rows


def kills_for(rows: list[ContainerMemory], count: int) -> tuple[OomAlert, ...]:
    kills = [
        OomKill(m.ref, 3, AT - timedelta(minutes=1), workload="deployment/w1") for m in rows[:count]
    ]
    group = KillGroup("deployment/w1", tuple(kills))
    return tuple(
        OomAlert(
            k,
            kill_context(
                k,
                working_set=((0.0, 1e8),),
                rss=(),
                cache=(),
                usage=(),
                limit_bytes=256 * MIB,
                request_bytes=None,
            ),
            group,
            None,
        )
        for k in kills
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(size=20_000, seed=1, kill_count=700)  # the largest cluster, always
@given(
    size=st.sampled_from([1, 7, 60, 500, 3000, 20_000]),
    seed=st.integers(0, 10_000),
    kill_count=st.sampled_from([0, 1, 2, 80, 700]),
)
def test_every_lifecycle_message_and_digest_is_legal_at_any_size(
    size: int, seed: int, kill_count: int
) -> None:
    rows = fleet(size, seed)
    assessments = tuple(assess(m, Thresholds()) for m in rows)
    alerts = kills_for(rows, min(kill_count, size))
    state = State(watching_since=AT.timestamp() - 3600)
    apply_check(
        state, CheckResult(AT, assessments, (), alerts), at=AT.timestamp(), settings=SETTINGS
    )
    composer = SlackComposer(SETTINGS)
    for note in state.outbox:
        calls = composer.calls(note.notice, note.channel)
        assert_legal([Fitted(c.text, c.blocks or []) for c in calls if c.action != "upload"])
    profiles = {
        m.ref: Profile(
            p95_bytes=(m.working_set_bytes or 0) // 2, peak_bytes=m.working_set_bytes or 0
        )
        for m in rows
    }
    gathered = Gathered(assessments, tuple(a.kill for a in alerts), profiles, None)
    for digest in build(gathered, settings=SETTINGS, at=AT, previous={}):
        # As it is sent: its notice, read back from the state, told by Slack.
        notice = digest_notice(digest, settings=SETTINGS, at=AT.timestamp())
        notice = DigestReady.model_validate_json(notice.model_dump_json())
        calls = composer.calls(notice, digest.channel)
        assert_legal([Fitted(c.text, c.blocks or []) for c in calls if c.action != "upload"])


CLUSTER = ClusterSpec(
    pods=(
        named_pod("leak", "shop", "checkout-7d9f-x2k4p"),
        named_pod("steady", "shop", "web-1-a"),
        named_pod("steady", "other", "web-1-a"),
    ),
    start=AT - timedelta(hours=4),
    duration=timedelta(hours=4),
)
ANSWERS = Answers(
    source=SimulatedSource(CLUSTER, SETTINGS), kubernetes=None, settings=SETTINGS, clock=lambda: AT
)
WORDS = st.sampled_from(
    [
        "top",
        "help",
        "-n",
        "shop",
        "--at",
        "03:12",
        "-2h",
        "--range",
        "6h",
        "--share",
        "deploy/checkout",
        "checkout",
        "web-1-a",
        "shop/web",
        'x"}',
        '{a="b"}',
        "ÄÖ",
        "../..",
        "-",
        "--",
        "\u202e",
        "@here",
        "<!channel>",
        "sts/",
        "ds/x",
        "9999999999",
        "2026-11-01T10:00:00Z",
        # Dates at the edge of what a clock holds (year 1, year 9999, with offsets).
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00Z",
        "--at",
        "--range",
        "99999999d",
        "-99999999d",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=120), st.lists(WORDS, max_size=7).map(" ".join)))
@example("api --at 0001-01-01T00:00:00+14:00")
@example("api --at 9999-12-31T23:59:59-14:00")
@example("shop/api --at -99999999d --range 99999999d")
def test_any_slash_text_gets_a_clear_legal_answer(text: str) -> None:
    reply = ANSWERS.slash(text, Asker(user_id="U1", channel_id="C1"))
    assert_legal(fit(reply.message))
    assert "Traceback" not in reply.message.text
    assert "Something went wrong inside podmem" not in reply.message.text
