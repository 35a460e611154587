"""Faults of the state and the process (issue 13, item 8): a damaged state file, a read-only
directory, a full disk, two checks on one file at once, SIGTERM mid-cycle. Each is one clear
line and a consistent state, never a traceback, never a silent fresh start that says
everything again. Real Prometheus, the real CLI (in process and as subprocesses), the Slack
stand-in over HTTP; the full disk is a small tmpfs (mounted when this runs as root)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.state.sqlite import SqliteStore
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.prometheus_harness import free_port
from tests.slack_standin import SlackStandIn
from tests.test_delivery_faults import CHANNEL, check, env, environment, slack, step
from tests.test_high_availability import wait_for

__all__ = ["env", "slack"]  # fixtures
RUN = [sys.executable, "-m", "bot.cli", "run", "--replay-from"]


def failing(minute: float, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """A check expected to fail: its exit code and what it printed to stderr."""
    code = main(["check", "--once", "--at", d.minutes(d.TIMELINE, minute).isoformat()])
    return code, capsys.readouterr().err


def _truncate(path: Path) -> None:
    path.write_bytes(b"")


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size or 8192))


def _wrong_schema(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE state SET body = ?", (json.dumps({"alerts": ["not", "records"]}),))


def _drop_table(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE state")


def _settle(path: Path) -> None:
    """Fold the WAL into the file, so damage to the file is all there is."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.mark.parametrize(
    "damage", [_truncate, _random_bytes, _wrong_schema, _drop_table], ids=lambda f: f.__name__
)
def test_a_damaged_state_file_stops_with_one_line_and_posts_nothing_again(
    damage: Callable[[Path], None],
    env: dict[str, str],
    slack: SlackStandIn,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = Path(env["PODMEM_STATE_PATH"])
    step(100, capsys)
    step(180, capsys)  # the warning is posted and recorded
    posted = len(slack.messages(CHANNEL))
    _settle(state)
    damage(state)
    code, err = failing(185, capsys)
    assert code == 3
    (line,) = err.strip().splitlines()
    assert f"state file {state} is damaged" in line
    assert f"mv {state} {state}.broken" in line and "Traceback" not in err
    assert len(slack.messages(CHANNEL)) == posted  # nothing said again from an empty state


def test_a_read_only_directory_says_so(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    step(100, capsys)
    directory = Path(env["PODMEM_STATE_PATH"]).parent
    with _read_only(directory):
        code, err = failing(180, capsys)
    assert code == 3
    (line,) = err.strip().splitlines()
    assert f"its directory {directory} is read-only" in line
    assert "state_path" in line and "unable to open database file" not in line


@contextlib.contextmanager
def _read_only(directory: Path) -> Iterator[None]:
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    # root ignores permission bits: a read-only bind mount of the directory onto itself.
    subprocess.run(["mount", "--bind", str(directory), str(directory)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(directory)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: podmem's state fits, and a filler file can fill the rest."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> None:
    with (disk / "filler").open("wb") as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()


def test_a_full_disk_fails_the_check_with_one_line(
    env: dict[str, str],
    small_disk: Path,
    slack: SlackStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = small_disk / "state.db"
    monkeypatch.setenv("PODMEM_STATE_PATH", str(state))
    monkeypatch.setenv("PODMEM_SLACK_CHANNEL", slack.channel_id(CHANNEL))  # for look-ups
    assert step(100, capsys)[0] == 0
    _fill(small_disk)
    code, err = failing(180, capsys)
    assert code == 3
    (line,) = err.strip().splitlines()
    assert f"cannot write state file {state}" in line and "disk holding it is full" in line
    (small_disk / "filler").unlink()
    # Room again: the warning goes out, once (looked up if it went before the disk filled).
    assert step(185, capsys)[0] == 0
    assert len(slack.top_level(CHANNEL)) == 1
    store = SqliteStore(state)
    assert store.read()[0].outbox == []
    store.close()


def test_two_checks_on_one_file_at_once_post_once_and_lose_nothing(
    slack: SlackStandIn, prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    url = prometheus_for(d.TIMELINE).url
    pairs = 4
    for n in range(pairs):
        state = tmp_path / f"state-{n}.db"
        values = {
            **os.environ,
            **environment(slack, url, state),
            "PODMEM_SLACK_CHANNEL": f"#pair-{n}",
        }
        assert check(values, 100).wait(timeout=60) == 0
        both = [check(values, 180), check(values, 180)]
        for process in both:
            assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
        (alert,) = slack.top_level(f"#pair-{n}")  # one post, not two
        assert alert["text"].startswith(":warning: *WARNING")
        charts = [m for m in slack.messages(f"#pair-{n}") if m.get("files")]
        assert len(charts) == 1  # one chart, in its thread
        store = SqliteStore(state)
        assert store.read()[0].outbox == []  # nothing lost either
        store.close()


def test_sigterm_during_a_cycle_exits_promptly_and_leaves_a_consistent_state(
    slack: SlackStandIn, prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    values = {
        **os.environ,
        **environment(slack, prometheus_for(d.TIMELINE).url, state),
        "SLACK_SIGNING_SECRET": "secret",
        "PODMEM_SLACK_MODE": "http",
        "PODMEM_HTTP_PORT": str(free_port()),
        "PODMEM_CHECK_INTERVAL_SECONDS": "5",
        "PODMEM_SLACK_TIMEOUT_SECONDS": "30",
        "PODMEM_SHUTDOWN_GRACE_SECONDS": "2",
        "PODMEM_SLACK_CHANNEL": slack.channel_id(CHANNEL),  # a post is looked up by ID
    }
    assert check(values, 100).wait(timeout=60) == 0
    log = (tmp_path / "run.log").open("wb")
    slack.delay(20)  # every Slack answer is slow: the cycle is mid-send when SIGTERM comes
    bot = subprocess.Popen(
        [*RUN, d.minutes(d.TIMELINE, 180).isoformat(), "--replay-step", "1m"],
        env=values,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: bool(slack.calls_to("chat.postMessage")), 60, "a post in flight")
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=10) == 0  # bounded: the grace, not the drain, decides
    finally:
        if bot.poll() is None:
            bot.kill()
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert "Traceback" not in output and "exiting anyway" in output
    slack.delay(0)
    store = SqliteStore(state)
    waiting = store.read()[0].outbox  # readable, and what was in flight is still there
    assert waiting and waiting[0].claimed_by is not None
    store.close()
    assert check(values, 181).wait(timeout=60) == 0
    top = [m["text"].splitlines()[0] for m in slack.top_level(CHANNEL)]
    assert len(top) == len(set(top))  # the post cut off by SIGTERM was not posted twice
    store = SqliteStore(state)
    assert store.read()[0].outbox == []
    store.close()
