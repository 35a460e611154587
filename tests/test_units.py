import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import InputError
from bot.units import (
    MIB,
    format_bytes,
    format_duration,
    parse_duration,
    parse_instant,
    quantity,
    round_up_quantity,
)
from bot.workloads import set_resources_command


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


@pytest.mark.parametrize(
    ("value", "rounded", "text"),
    [
        (356.2 * MIB, 360 * MIB, "360Mi"),
        (356 * MIB, 356 * MIB, "356Mi"),
        (1, 4 * MIB, "4Mi"),
        (1.3 * 1024 * MIB, 1344 * MIB, "1344Mi"),
        (2047.5 * MIB, 2048 * MIB, "2Gi"),
    ],
)
def test_suggestions_round_up_to_quantities_a_manifest_takes(
    value: float, rounded: int, text: str
) -> None:
    assert round_up_quantity(value) == rounded
    assert quantity(round_up_quantity(value)) == text


@given(st.floats(min_value=1, max_value=2**40))
def test_a_rounded_suggestion_is_never_below_what_was_asked(value: float) -> None:
    rounded = round_up_quantity(value)
    assert rounded >= value and rounded % (4 * MIB) == 0
    assert quantity(rounded).endswith(("Mi", "Gi"))


def test_the_command_applies_a_suggestion_where_kubectl_can() -> None:
    assert set_resources_command("shop", "deployment/checkout", "app", limit="356Mi") == (
        "kubectl -n shop set resources deployment/checkout -c app --limits=memory=356Mi"
    )
    both = set_resources_command("db", "statefulset/pg", "pg", limit="2Gi", request="1Gi")
    assert both is not None and both.endswith("--limits=memory=2Gi --requests=memory=1Gi")
    assert set_resources_command("batch", "job/once", "app", limit="1Gi") is None  # immutable
    assert set_resources_command("shop", None, "app", limit="1Gi") is None  # a bare pod
