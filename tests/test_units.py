import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import InputError
from bot.units import format_bytes, format_duration, parse_duration, parse_instant


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("6h", 21600), ("1h30m", 5400), ("7d", 604800), ("1w", 604800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m5", "5 minutes", "-5m", "0s", "1.5h", "5m; drop"])
def test_bad_durations_say_how(text: str) -> None:
    with pytest.raises(InputError, match="bad duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T03:12:00Z", datetime(2026, 11, 28, 3, 12, tzinfo=UTC)),
        ("2026-11-28T04:12:00+01:00", datetime(2026, 11, 28, 3, 12, tzinfo=UTC)),
        ("1795835520", datetime(2026, 11, 28, 3, 12, tzinfo=UTC)),
        ("1795835520.5", datetime(2026, 11, 28, 3, 12, 0, 500000, tzinfo=UTC)),
    ],
)
def test_instants(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


def test_instant_without_zone_asks_for_one() -> None:
    with pytest.raises(InputError, match="say which time zone"):
        parse_instant("2026-11-28T03:12:00")


@pytest.mark.parametrize("text", ["yesterday", "03:12", "2026-13-01T00:00:00Z", "12", ""])
def test_malformed_instants(text: str) -> None:
    with pytest.raises(InputError, match="bad time"):
        parse_instant(text)


@given(st.text(max_size=40))
def test_parsers_only_ever_raise_input_errors(text: str) -> None:
    for parse in (parse_duration, parse_instant):
        with contextlib.suppress(InputError):
            parse(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "n/a"), (512, "512 B"), (256 * 2**20, "256.0 MiB"), (3 * 2**30, "3.00 GiB")],
)
def test_sizes_read_in_mib_and_gib(value: int | None, text: str) -> None:
    assert format_bytes(value) == text


def test_durations_read_naturally() -> None:
    assert format_duration(45) == "45 s"
    assert format_duration(18 * 60) == "18 min"
    assert format_duration(5400) == "1 h 30 min"
    assert format_duration(None) == "n/a"
