"""`log_format: json`: every line podmem writes to stderr is one JSON object a log pipeline
can read (time, level, logger, message, the check's fields, a traceback as one field)."""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.cli import EXIT_INPUT, main
from bot.logs import setup_logging
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.prometheus_harness import free_port
from tests.slack_standin import SlackStandIn

# Long enough for a slow, shared machine; a hang guard, never a measure of speed.
PATIENCE_SECONDS = 180


def entries(stderr: str) -> list[dict[str, Any]]:
    """Every line parsed as JSON: one that is not fails the test, naming the line."""
    lines = stderr.splitlines()
    assert lines, "nothing was logged"
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
        assert {"time", "level", "logger", "message"} <= entry.keys(), line
        assert entry["time"].endswith("Z")
        found.append(entry)
    return found


def test_run_logs_each_check_as_one_json_object(
    prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    with SlackStandIn() as slack:
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "secret",
            "PODMEM_SLACK_MODE": "http",
            "PODMEM_HTTP_PORT": str(free_port()),
            "PODMEM_SLACK_API_URL": slack.api_url,
            "PODMEM_SLACK_CHANNEL": "#alerts",
            "PODMEM_STATE_PATH": str(tmp_path / "state.db"),
            # No kube-state-metrics: the check says so in a note, a WARNING line.
            "PODMEM_PROMETHEUS_URL": prometheus_for(d.NO_KSM).url,
            "PODMEM_KUBERNETES": "off",
            "PODMEM_LOG_FORMAT": "json",
        }
        replay = d.minutes(d.NO_KSM, 130).isoformat()
        bot = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot.cli",
                "run",
                "--replay-from",
                replay,
                "--replay-step",
                "5m",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert bot.stderr is not None
        reader = threading.Thread(target=lambda: [lines.put(x) for x in bot.stderr])  # type: ignore[union-attr]
        reader.start()
        seen = []
        try:
            while not any('"message": "check at ' in line for line in seen):
                seen.append(lines.get(timeout=PATIENCE_SECONDS))
        finally:
            bot.terminate()
            bot.wait(timeout=PATIENCE_SECONDS)
            reader.join()
    while not lines.empty():
        seen.append(lines.get())
    logged = entries("".join(seen))
    check = next(e for e in logged if e["message"].startswith("check at "))
    assert check["level"] == "INFO" and check["logger"] == "bot.runner"
    assert check["evaluated_at"] == "2026-11-01T02:10:00+00:00"
    assert check["containers"] == len(d.NO_KSM.pods) + 1  # the pair has two containers
    assert check["ok"] is True
    assert {"alerts", "oom_kills", "sent", "waiting", "refused", "duration_seconds"} <= check.keys()
    (note,) = [e for e in logged if e["level"] == "WARNING"]
    assert note["message"].startswith("no kube-state-metrics series") and note["note"] is True
    assert logged[-1]["message"] == "stopping"
    assert "xoxb-test" not in "".join(seen)


def test_a_config_error_is_a_json_line_too(tmp_path: Path) -> None:
    env = {**os.environ, "PODMEM_LOG_FORMAT": "json", "PODMEM_CHECK_INTERVAL_SECONDS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check", "--once", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE_SECONDS,
        check=False,
    )
    assert done.returncode == EXIT_INPUT
    (entry,) = entries(done.stderr)
    assert entry["level"] == "ERROR" and entry["exit_code"] == EXIT_INPUT
    assert entry["message"].startswith(
        "config error: check_interval_seconds (PODMEM_CHECK_INTERVAL_SECONDS): "
    )


def test_notes_beside_a_report_are_json_and_stdout_keeps_the_answer(
    prometheus_for: PrometheusFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PODMEM_LOG_FORMAT", "json")
    url = prometheus_for(d.NO_KSM).url
    at = d.minutes(d.NO_KSM, 130).isoformat()
    code = main(
        ["report", "cache-5c4b", "--prometheus-url", url, "--at", at, "--kubernetes", "off"]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert "[CACHE_HEAVY]" in out  # the answer, as text
    (note,) = entries(err)
    assert note["level"] == "WARNING" and note["logger"] == "podmem"
    assert note["message"].startswith("no kube-state-metrics series")


def test_a_traceback_is_one_field_and_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", "json")
    log = logging.getLogger("bot.test")
    try:
        raise ValueError("Slack said no to xoxb-123-456-secret\nsecond line")
    except ValueError:
        log.exception("answering failed", extra={"incident": "a1b2"})
    # A crash in a thread (not caught by podmem) reaches the log the same way, not as free text.
    worker = threading.Thread(target=lambda: 1 / 0, name="charts-0")
    worker.start()
    worker.join()
    failed, crashed = entries(capsys.readouterr().err)
    assert failed["message"] == "answering failed" and failed["incident"] == "a1b2"
    assert failed["exception"].startswith("Traceback (most recent call last):\n")
    assert "ValueError: Slack said no to (redacted)\nsecond line" in failed["exception"]
    assert "xoxb-123" not in json.dumps(failed)
    assert crashed["level"] == "ERROR" and crashed["message"] == "charts-0 crashed"
    assert crashed["exception"].endswith("ZeroDivisionError: division by zero")
