"""The collector pause around reading PromQL answers: it always comes back as it was."""

from __future__ import annotations

import gc
import threading

import pytest

from bot.sources.collector import paused_collection


@pytest.fixture(autouse=True)
def _collector_restored() -> object:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_paused_while_any_answer_is_read_and_back_after_the_last() -> None:
    gc.enable()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with paused_collection():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    reader = threading.Thread(target=first)
    reader.start()
    first_in.wait(5)
    with paused_collection():
        second_in.set()
        first_out.wait(5)
        seen.append(gc.isenabled())  # the first reader is done, this one is not
    reader.join(5)
    assert seen == [False]
    assert gc.isenabled()


def test_back_after_a_failed_read() -> None:
    gc.enable()
    with pytest.raises(ValueError), paused_collection():
        raise ValueError("not JSON")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with paused_collection():
        pass
    assert not gc.isenabled()
