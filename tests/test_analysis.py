"""The verdict table. Figures in MiB against a 256 MiB limit unless a row says otherwise."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.analysis import Thresholds, assess
from bot.model import ContainerMemory, ContainerRef, Verdict
from bot.policy import thresholds_for

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

MIB = 2**20
REF = ContainerRef("", "default", "api-7d9f-x2", "app")
PER_MIN = MIB / 60


def memory(
    ws: float | None,
    *,
    usage: float | None = None,
    rss: float | None = None,
    floor: float | None = None,
    limit: float | None = 256,
    request: float | None = 128,
    growth: float | None = 0.0,
    swap: float | None = None,
    age_min: float | None = 120,
    stalled: float | None = None,
    annotations: tuple[tuple[str, str], ...] = (),
) -> ContainerMemory:
    def b(v: float | None) -> int | None:
        return None if v is None else round(v * MIB)

    return ContainerMemory(
        REF,
        working_set_bytes=b(ws),
        working_set_floor_bytes=b(floor if floor is not None else ws),
        usage_bytes=b(usage if usage is not None else ws),
        rss_bytes=b(rss if rss is not None else ws),
        limit_bytes=b(limit),
        request_bytes=b(request),
        growth_bytes_per_second=None if growth is None else growth * PER_MIN,
        swap_bytes=b(swap),
        started_at=None if age_min is None else NOW.timestamp() - age_min * 60,
        memory_stalled_ratio=stalled,
        threshold_annotations=annotations,
    )


def judge(figures: ContainerMemory, thresholds: Thresholds | None = None, **kw: int):  # type: ignore[no-untyped-def]
    return assess(figures, thresholds or Thresholds(), at=NOW, **kw)


@pytest.mark.parametrize(
    ("figures", "verdict"),
    [
        (memory(100), Verdict.OK),
        (memory(205), Verdict.WARNING),  # 80 %
        (memory(231), Verdict.CRITICAL),  # 90 %
        (memory(260), Verdict.CRITICAL),  # over the limit
        # Held for the for-duration? The floor over the window decides, not the last sample.
        (memory(235, floor=150), Verdict.OK),
        (memory(235, floor=210), Verdict.WARNING),
        # Racing to the limit: 70 % but 20 min away at 4 MiB/min, growing for 2 h.
        (memory(180, growth=4), Verdict.CRITICAL),
        # An established leak at 60 % that reaches the limit in 20 min: critical.
        (memory(154, growth=5.1), Verdict.CRITICAL),
        # A rollout's pod, 8 min old at 33 %, growing fast while it warms up: not a page.
        (memory(85, growth=12, age_min=8), Verdict.OK),
        # The same speed at 33 % on a pod 2 h old: still too far from the limit to page.
        (memory(85, growth=12), Verdict.OK),
        # 8 min old at 70 %, racing: the slope is warm-up, not yet a trend.
        (memory(180, growth=4, age_min=8), Verdict.OK),
        # Age unknown (no container_start_time_seconds): the trend is taken as established.
        (memory(180, growth=4, age_min=None), Verdict.CRITICAL),
        # 70 % and 2 h away: fine.
        (memory(180, growth=0.6), Verdict.OK),
        # 93 % of which 30 % RSS and 63 % active cache, flat: warning, not a page.
        (memory(238, rss=77), Verdict.WARNING),
        # ... but RSS plus swapped-out anonymous memory beyond the warning line is critical.
        (memory(238, rss=150, swap=60), Verdict.CRITICAL),
        # Usage pinned at the limit, working set 75 %, stalled a quarter of the time: thrash.
        (memory(192, usage=256, rss=100, stalled=0.25), Verdict.WARNING),
        # The same with PSI calm: cache-heavy, no risk.
        (memory(192, usage=256, rss=100, stalled=0.02), Verdict.CACHE_HEAVY),
        # Thrashing with no limit: still someone's problem.
        (memory(300, limit=None, stalled=0.3), Verdict.WARNING),
        # The seed's experiment 2: usage pinned at the limit, working set 58 %.
        (memory(150, usage=256, rss=146), Verdict.CACHE_HEAVY),
        # Usage high but under the cache-heavy threshold: just ok.
        (memory(150, usage=220), Verdict.OK),
        # Working set high AND usage full: the working set wins.
        (memory(240, usage=256), Verdict.CRITICAL),
        (memory(300, limit=None, request=200), Verdict.NO_LIMIT),
        (memory(None), Verdict.NO_DATA),
    ],
)
def test_verdicts(figures: ContainerMemory, verdict: Verdict) -> None:
    assert judge(figures).verdict is verdict


def test_cache_heavy_reason_teaches_the_lesson() -> None:
    a = judge(memory(150, usage=256, rss=146))
    assert a.reclaimable_bytes == 106 * MIB
    assert "106.0 MiB of it is reclaimable page cache" in a.reason
    assert "no OOM risk" in a.reason
    assert "working set is 59 %" in a.reason


def test_derived_figures() -> None:
    a = judge(memory(200, usage=230, rss=150, request=100, growth=2))
    assert a.active_cache_bytes == 50 * MIB
    assert a.reclaimable_bytes == 30 * MIB
    assert a.working_set_to_limit == pytest.approx(200 / 256)
    assert a.working_set_to_request == pytest.approx(2.0)
    assert a.usage_to_limit == pytest.approx(230 / 256)
    assert a.rss_to_limit == pytest.approx(150 / 256)
    assert a.seconds_to_limit == pytest.approx(56 / 2 * 60)


def test_active_cache_caps_the_severity_and_says_so() -> None:
    mostly_cache = judge(memory(240, rss=60))
    mostly_rss = judge(memory(240, rss=230))
    assert mostly_cache.verdict is Verdict.WARNING and mostly_cache.cache_capped
    assert mostly_rss.verdict is Verdict.CRITICAL and not mostly_rss.cache_capped
    assert (
        "active page cache" in mostly_cache.reason and "warning, not a page" in mostly_cache.reason
    )
    assert "tmpfs" in mostly_cache.reason  # the caveat: shared memory counts as cache
    assert "not reclaimable without swap" in mostly_rss.reason
    # Active cache over RSS, but RSS alone past the warning line: critical, softer in words.
    softer = judge(memory(250, rss=210))
    assert softer.verdict is Verdict.CRITICAL and "softer" not in softer.reason


def test_warm_up_is_said_not_paged() -> None:
    a = judge(memory(85, growth=12, age_min=8))
    assert a.warming_up and not a.racing
    assert "has run only 8 min" in a.reason and "warm-up" in a.reason
    far = judge(memory(85, growth=12))
    assert far.warming_up and "only at 33 % of the limit" in far.reason


def test_thrashing_is_said() -> None:
    a = judge(memory(192, usage=256, rss=100, stalled=0.25))
    assert a.thrashing and "thrashes" in a.reason and "25 %" in a.reason


def test_a_kill_loop_is_at_least_a_warning() -> None:
    calm = memory(40, rss=38)
    assert judge(calm).verdict is Verdict.OK
    assert judge(calm, oom_kills=1).verdict is Verdict.OK
    looping = judge(calm, oom_kills=28)
    assert looping.verdict is Verdict.WARNING and "OOM-killed 28 times" in looping.reason


def test_a_copy_explains_its_own_figures() -> None:
    """dataclasses.replace gives a consistent copy: the reason is computed, not cached."""
    a = judge(memory(100))
    copy = replace(
        a, memory=replace(a.memory, working_set_bytes=250 * MIB), working_set_to_limit=250 / 256
    )
    assert "250.0 MiB is 98 %" in copy.reason and "100.0 MiB" not in copy.reason


@pytest.mark.parametrize(
    ("annotations", "warning", "critical", "problem"),
    [
        ((("podmem.io/warning", "0.95"),), 0.95, 0.975, None),
        ((("podmem.io/warning", "0.6"), ("podmem.io/critical", "0.7")), 0.6, 0.7, None),
        ((("podmem.io/critical", "0.85"),), 0.8, 0.85, None),
        ((("podmem.io/warning", "abc"),), 0.8, 0.9, "'abc' is not a ratio"),
        ((("podmem.io/warning", "1.7"),), 0.8, 0.9, "'1.7' is not a ratio"),
        (
            (("podmem.io/warning", "0.9"), ("podmem.io/critical", "0.5")),
            0.9,
            0.9,
            "below its warning",
        ),
    ],
)
def test_per_pod_thresholds(
    annotations: tuple[tuple[str, str], ...], warning: float, critical: float, problem: str | None
) -> None:
    t, problems = thresholds_for(memory(100, annotations=annotations), Thresholds())
    assert (t.warning_ratio, t.critical_ratio) == pytest.approx((warning, critical))
    if problem is None:
        assert problems == []
    else:
        (line,) = problems
        assert problem in line and "default/api-7d9f-x2" in line


def test_pending_crossing_is_explained() -> None:
    a = judge(memory(235, floor=150))
    assert "has not stayed above 80 % for 5 min yet" in a.reason


def test_no_limit_reports_request_ratio() -> None:
    a = judge(memory(300, limit=None, request=200))
    assert a.working_set_to_request == pytest.approx(1.5)
    assert "150 % of its 200.0 MiB request" in a.reason
    best_effort = judge(memory(300, limit=None, request=None))
    assert "BestEffort" in best_effort.reason


def test_thresholds_come_from_settings() -> None:
    strict = Thresholds(warning_ratio=0.5, critical_ratio=0.6)
    assert judge(memory(140), strict).verdict is Verdict.WARNING
    assert judge(memory(160), strict).verdict is Verdict.CRITICAL
    assert judge(memory(140)).verdict is Verdict.OK


def test_flat_or_falling_has_no_time_to_limit() -> None:
    assert judge(memory(200, growth=0)).seconds_to_limit is None
    assert judge(memory(200, growth=-3)).seconds_to_limit is None
    assert judge(memory(200, growth=None)).seconds_to_limit is None
