"""The verdict table. Figures in MiB against a 256 MiB limit unless a row says otherwise."""

import pytest

from bot.analysis import Thresholds, assess
from bot.model import ContainerMemory, ContainerRef, Verdict

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
    )


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
        # Racing to the limit: 70 % but 20 min away at 4 MiB/min.
        (memory(180, growth=4), Verdict.CRITICAL),
        # 70 % and 2 h away: fine.
        (memory(180, growth=0.6), Verdict.OK),
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
    assert assess(figures, Thresholds()).verdict is verdict


def test_cache_heavy_reason_teaches_the_lesson() -> None:
    a = assess(memory(150, usage=256, rss=146), Thresholds())
    assert a.reclaimable_bytes == 106 * MIB
    assert "106.0 MiB of it is reclaimable page cache" in a.reason
    assert "no OOM risk" in a.reason
    assert "working set is 59 %" in a.reason


def test_derived_figures() -> None:
    a = assess(memory(200, usage=230, rss=150, request=100, growth=2), Thresholds())
    assert a.active_cache_bytes == 50 * MIB
    assert a.reclaimable_bytes == 30 * MIB
    assert a.working_set_to_limit == pytest.approx(200 / 256)
    assert a.working_set_to_request == pytest.approx(2.0)
    assert a.usage_to_limit == pytest.approx(230 / 256)
    assert a.rss_to_limit == pytest.approx(150 / 256)
    assert a.seconds_to_limit == pytest.approx(56 / 2 * 60)


def test_active_cache_makes_a_softer_risk_and_says_so() -> None:
    mostly_cache = assess(memory(240, rss=60), Thresholds())
    mostly_rss = assess(memory(240, rss=230), Thresholds())
    assert mostly_cache.verdict is mostly_rss.verdict is Verdict.CRITICAL
    assert "softer" in mostly_cache.reason and "active page cache" in mostly_cache.reason
    assert "not reclaimable without swap" in mostly_rss.reason


def test_pending_crossing_is_explained() -> None:
    a = assess(memory(235, floor=150), Thresholds())
    assert "has not stayed above 80 % for 5 min yet" in a.reason


def test_no_limit_reports_request_ratio() -> None:
    a = assess(memory(300, limit=None, request=200), Thresholds())
    assert a.working_set_to_request == pytest.approx(1.5)
    assert "150 % of its 200.0 MiB request" in a.reason
    best_effort = assess(memory(300, limit=None, request=None), Thresholds())
    assert "BestEffort" in best_effort.reason


def test_thresholds_come_from_settings() -> None:
    strict = Thresholds(warning_ratio=0.5, critical_ratio=0.6)
    assert assess(memory(140), strict).verdict is Verdict.WARNING
    assert assess(memory(160), strict).verdict is Verdict.CRITICAL
    assert assess(memory(140), Thresholds()).verdict is Verdict.OK


def test_flat_or_falling_has_no_time_to_limit() -> None:
    assert assess(memory(200, growth=0), Thresholds()).seconds_to_limit is None
    assert assess(memory(200, growth=-3), Thresholds()).seconds_to_limit is None
    assert assess(memory(200, growth=None), Thresholds()).seconds_to_limit is None
