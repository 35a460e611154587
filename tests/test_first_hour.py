"""A newcomer's first hour: every way to get it wrong ends in one clear line and an exit code.

Each test runs `podmem` as a user would (a new process, a clean environment, a scratch working
directory) against a real Prometheus and the Slack stand-in, and reads what it printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.clocks import SteppedClock
from bot.delivery.slack import SlackSender
from bot.metrics import Metrics
from bot.runner import Runner
from bot.settings import load_settings
from bot.sources.prometheus import PrometheusSource
from bot.state.sqlite import SqliteStore
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.prometheus_harness import free_port
from tests.slack_standin import SlackStandIn

BEFORE_THE_DATA = "2020-01-01T00:00:00Z"  # a Prometheus with nothing at that instant
ROOT = Path(__file__).resolve().parent.parent


def podmem(
    *argv: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`podmem ARGS` in a new process, with only the environment a user would have set."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *argv],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"wanted one line, got {len(lines)}:\n{stderr}"
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


# --- an empty or wrong Prometheus does not look healthy --------------------------------------


def test_no_working_set_series_is_said_and_exits_3(
    prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    url = prometheus_for(d.MAIN).url
    for command in (
        ["check", "--dry-run"],
        ["check", "--once", "--dry-run"],
        ["digest", "--dry-run"],
    ):
        done = podmem(*command, "--prometheus-url", url, "--at", BEFORE_THE_DATA, cwd=tmp_path)
        line = one_line(done.stderr)
        assert done.returncode == 3, command
        assert "container_memory_working_set_bytes" in line and "/metrics/cadvisor" in line
        assert "No memory alerts" not in done.stdout


def test_the_bot_on_an_empty_prometheus_is_degraded_not_ok(
    prometheus_for: PrometheusFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    settings = load_settings(
        prometheus_url=prometheus_for(d.MAIN).url,
        kubernetes="off",
        slack_api_url=slack.api_url,
        slack_bot_token="xoxb-test",
        slack_channel="#alerts",
        slack_channel_interval_seconds=0,
    )
    metrics = Metrics()
    runner = Runner(
        settings,
        clock=SteppedClock(d.minutes(d.MAIN, -600), d.minutes(d.MAIN, 1) - d.minutes(d.MAIN, 0)),
        store=SqliteStore(tmp_path / "state.db"),
        source=PrometheusSource(settings),
        kubernetes=None,
        sender=SlackSender(settings),
        metrics=metrics,
    )
    runner.check_job()
    assert metrics.registry.get_sample_value("podmem_checks_total", {"outcome": "ok"}) is None
    assert metrics.registry.get_sample_value("podmem_checks_total", {"outcome": "degraded"}) == 1
    (notice,) = slack.top_level("#alerts")
    assert "Monitoring degraded" in notice["text"]
    assert "container_memory_working_set_bytes" in json.dumps(notice)


def test_no_kube_state_metrics_is_one_note_beside_the_answer(
    prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    url = prometheus_for(d.NO_KSM).url
    at = d.minutes(d.NO_KSM, 60).isoformat()
    done = podmem(
        "check", "--dry-run", "--prometheus-url", url, "--at", at, "--output", "json", cwd=tmp_path
    )
    assert done.returncode == 0
    line = one_line(done.stderr)
    assert line.startswith("podmem: note: no kube-state-metrics")
    assert "limits come from cAdvisor" in line and "Kubernetes API" in line
    data = json.loads(done.stdout)  # the note stays out of the JSON on stdout...
    assert data["containers_checked"] > 0
    assert data["notes"] == [line.removeprefix("podmem: note: ")]  # ...and is in it as data
    with_ksm = podmem(
        "check", "--dry-run", "--prometheus-url", prometheus_for(d.MAIN).url, "--at", at,
        cwd=tmp_path,
    )  # fmt: skip
    assert with_ksm.returncode == 0 and with_ksm.stderr == ""


# --- configuration mistakes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PODMEM_ROUTES", "not json"),
        ("PODMEM_PROMETHEUS_HEADERS", "{"),
        ("PODMEM_ACCESS_RULES", "["),
    ],
)
def test_bad_json_in_the_environment_names_the_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    done = podmem("check", "--dry-run", cwd=tmp_path, env={variable: value})
    line = one_line(done.stderr)
    assert done.returncode == 2
    assert f"{variable} is not valid JSON" in line


def test_invalid_yaml_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "podmem.yaml"
    config.write_text("routes: [\n  {channel: '#a'\n")
    done = podmem("check", "--dry-run", "--config", str(config), cwd=tmp_path)
    line = one_line(done.stderr)
    assert done.returncode == 2
    assert f"config file {config} is not valid YAML" in line and "line 3" in line


def test_run_names_every_missing_setting_at_once(tmp_path: Path) -> None:
    done = podmem("run", cwd=tmp_path)
    line = one_line(done.stderr)
    assert done.returncode == 2
    for needed in ("SLACK_BOT_TOKEN", "PODMEM_SLACK_CHANNEL", "SLACK_APP_TOKEN"):
        assert needed in line
    http = podmem("run", cwd=tmp_path, env={"PODMEM_SLACK_MODE": "http"})
    assert http.returncode == 2 and "SLACK_SIGNING_SECRET" in one_line(http.stderr)


# --- Slack refuses or cannot be reached ------------------------------------------------------


def _run_env(slack_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        "PODMEM_SLACK_API_URL": slack_url,
        "PODMEM_SLACK_CHANNEL": "#alerts",
        "PODMEM_KUBERNETES": "off",
        "PODMEM_HTTP_PORT": "0",
        "PODMEM_STATE_PATH": str(tmp_path / "state.db"),
        **extra,
    }


def test_run_with_slack_unreachable_is_one_line_exit_3(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/api/"
    done = podmem("run", cwd=tmp_path, env=_run_env(nowhere, tmp_path))
    line = one_line(done.stderr)
    assert done.returncode == 3
    assert f"cannot reach Slack at {nowhere}" in line


def test_run_with_a_wrong_app_token_says_which_token(slack: SlackStandIn, tmp_path: Path) -> None:
    done = podmem(
        "run", cwd=tmp_path, env=_run_env(slack.api_url, tmp_path, SLACK_APP_TOKEN="xapp-wrong")
    )
    line = one_line(done.stderr)
    assert done.returncode == 3
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in line and "xapp-wrong" not in line
    bot_token_given = podmem(
        "run", cwd=tmp_path, env=_run_env(slack.api_url, tmp_path, SLACK_APP_TOKEN="xoxb-test")
    )
    assert bot_token_given.returncode == 3
    assert "SLACK_APP_TOKEN (not_allowed_token_type)" in one_line(bot_token_given.stderr)


def test_run_in_http_mode_with_a_wrong_bot_token_says_it_is_refused(
    slack: SlackStandIn, tmp_path: Path
) -> None:
    env = _run_env(
        slack.api_url,
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-wrong",
        PODMEM_SLACK_MODE="http",
        SLACK_SIGNING_SECRET="secret",
    )
    done = podmem("run", cwd=tmp_path, env=env)
    line = one_line(done.stderr)
    assert done.returncode == 3
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in line and "xoxb-wrong" not in line


def test_a_token_refused_mid_run_waits_in_the_outbox_and_says_why(
    prometheus_for: PrometheusFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    env = _run_env(slack.api_url, tmp_path, SLACK_BOT_TOKEN="xoxb-revoked")
    env["PODMEM_PROMETHEUS_URL"] = prometheus_for(d.TIMELINE).url
    done = podmem("check", "--at", d.minutes(d.TIMELINE, 185).isoformat(), cwd=tmp_path, env=env)
    assert done.returncode == 0  # the check worked; the notice waits for a good token
    assert "1 waiting" in done.stdout or "2 waiting" in done.stdout
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in done.stdout + done.stderr


# --- what the libraries would say before podmem does ----------------------------------------


class _Hangup(BaseHTTPRequestHandler):
    """A proxy that drops every connection without answering."""

    def handle(self) -> None:
        self.connection.close()


class _NotFound(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b"404 page not found\n"
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_urllib3_retries_stay_quiet(slack: SlackStandIn, tmp_path: Path) -> None:
    server = _serve(_Hangup)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        env = _run_env(slack.api_url, tmp_path, PODMEM_PROMETHEUS_URL=url)
        done = podmem("check", cwd=tmp_path, env=env)
    finally:
        server.shutdown()
    assert done.returncode == 3
    assert "Retrying" not in done.stderr and "%28" not in done.stderr  # no URL-encoded PromQL
    assert "degraded: cannot reach Prometheus" in done.stdout


def test_a_404_reads_as_words_not_bytes(tmp_path: Path) -> None:
    server = _serve(_NotFound)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/wrong"
        done = podmem("check", "--dry-run", "--prometheus-url", url, cwd=tmp_path)
    finally:
        server.shutdown()
    line = one_line(done.stderr)
    assert done.returncode == 3
    assert "(HTTP 404: 404 page not found)" in line and "b'" not in line and "\\n" not in line


# --- help, previews and state ---------------------------------------------------------------


def test_help_names_values_by_what_they_are(tmp_path: Path) -> None:
    report = podmem("report", "--help", cwd=tmp_path).stdout
    assert "--range DURATION" in report and "RANGE_" not in report and "--at TIME" in report
    assert "json for scripts" in report  # --output says what it is for
    demo = podmem("demo", "--help", cwd=tmp_path).stdout
    assert "--output-dir DIR" in demo and "HTML preview" in demo


def test_help_loads_no_heavy_library(tmp_path: Path) -> None:
    """What made `podmem --help` take a second: matplotlib, the Kubernetes client, pydantic,
    slack_sdk imported before argparse could print. bench/ measures the time it takes."""
    probe = (
        "import sys, contextlib, io\n"
        "from bot.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "heavy = ('matplotlib', 'kubernetes', 'pydantic', 'slack_sdk', 'numpy', 'yaml')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_digest_preview_in_text_has_no_slack_markup(
    prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    url = prometheus_for(d.MAIN).url
    at = d.minutes(d.MAIN, 130).isoformat()
    done = podmem("digest", "--dry-run", "--prometheus-url", url, "--at", at, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "PODMEM DAILY DIGEST" in done.stdout.upper()
    assert ":bar_chart:" not in done.stdout and "*podmem daily digest*" not in done.stdout


def test_silences_say_where_the_state_is_and_create_nothing(tmp_path: Path) -> None:
    done = podmem("silences", cwd=tmp_path)
    assert done.returncode == 0
    assert str(tmp_path / "podmem-state.db") in done.stdout
    assert not (tmp_path / "podmem-state.db").exists()
    snoozed = podmem("snooze", "pod", "shop/api-1", "--for", "1h", cwd=tmp_path)
    assert snoozed.returncode == 0 and str(tmp_path / "podmem-state.db") in snoozed.stdout
    listed = podmem("silences", cwd=tmp_path)
    assert "shop/api-1" in listed.stdout and str(tmp_path / "podmem-state.db") in listed.stdout


def test_check_needs_no_once(prometheus_for: PrometheusFactory, tmp_path: Path) -> None:
    url = prometheus_for(d.MAIN).url
    at = d.minutes(d.MAIN, 130).isoformat()
    done = podmem("check", "--dry-run", "--prometheus-url", url, "--at", at, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert "container" in done.stdout


def test_a_password_in_the_prometheus_url_is_never_shown(
    slack: SlackStandIn, tmp_path: Path
) -> None:
    """The URL is in every 'cannot reach' line, the degraded notice and the log."""
    url = f"http://sre:s3cret-pw@127.0.0.1:{free_port()}"
    env = _run_env(slack.api_url, tmp_path, PODMEM_PROMETHEUS_URL=url, PODMEM_LOG_LEVEL="DEBUG")
    done = podmem("check", cwd=tmp_path, env=env)
    assert done.returncode == 3
    dry = podmem("check", "--dry-run", cwd=tmp_path, env=env)
    said = done.stdout + done.stderr + dry.stdout + dry.stderr
    said += json.dumps([c.args for c in slack.calls])
    assert "127.0.0.1" in said and "Monitoring degraded" in said  # the URL is shown...
    assert "s3cret-pw" not in said  # ...without its password


def test_log_lines_cannot_be_forged_or_unbounded(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from bot.logs import MAX_MESSAGE_CHARS, setup_logging

    setup_logging("INFO")
    log = logging.getLogger("slack_bolt.App")
    log.warning("Unhandled request (%s)", "x\n2026-12-01 00:00:00 ERROR podmem: forged")
    log.warning("body %s", "y" * 100_000)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "\\n2026-12-01" in lines[0]
    assert len(lines[1]) < MAX_MESSAGE_CHARS + 200 and "characters)" in lines[1]


def test_a_response_url_never_reaches_the_log() -> None:
    from urllib.parse import quote

    from bot.logs import redact

    url = "https://hooks.slack.com/commands/T0PODMEM/1234/abcdSECRET"
    said = redact(f"Sending a request - url: {url}, body: {{'token': 'xoxb-1-2'}}")
    assert "abcdSECRET" not in said and "xoxb-1-2" not in said
    assert "https://hooks.slack.com/(redacted)" in said
    # As a payload carries it (JSON escapes slashes) and as a form body does (URL-encoded).
    for shown in (url.replace("/", "\\/"), quote(url, safe="")):
        assert "abcdSECRET" not in redact(f"body: {{'response_url': '{shown}'}}")
