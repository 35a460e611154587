"""`podmem` as a user runs it: real Prometheus, real argument parsing, real exit codes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.cli import EXIT_INPUT, EXIT_SOURCE, main
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.prometheus_harness import free_port

CONTRACT_REPORT_FIELDS = {
    "cluster",
    "namespace",
    "pod",
    "container",
    "workload",
    "working_set_bytes",
    "usage_bytes",
    "rss_bytes",
    "cache_bytes",
    "swap_bytes",
    "limit_bytes",
    "request_bytes",
    "reclaimable_bytes",
    "working_set_to_limit",
    "working_set_to_request",
    "usage_to_limit",
    "rss_to_limit",
    "growth_bytes_per_second",
    "seconds_to_limit",
    "verdict",
    "reason",
    "restarts",
    "oom_kills",
}
AT = "2026-11-01T02:10:00Z"  # 130 min into the MAIN data


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def url(prometheus_for: PrometheusFactory) -> str:
    return prometheus_for(d.MAIN).url


def test_report_json_follows_the_contract(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "report", "cache-5c4b", "--prometheus-url", url, "--at", AT, "--output", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["evaluated_at"] == "2026-11-01T02:10:00Z"
    (container,) = data["containers"]
    assert container.keys() >= CONTRACT_REPORT_FIELDS
    assert container["verdict"] == "cache_heavy"
    assert isinstance(container["working_set_bytes"], int)
    assert isinstance(container["working_set_to_limit"], float)
    assert container["pod"] == "cache-5c4b-q1" and container["namespace"] == "default"


def test_report_text_reads_at_a_glance(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "report", "default/cache-5c4b-q1", "--prometheus-url", url, "--at", AT
    )
    assert code == 0
    assert "[CACHE_HEAVY]" in out
    assert "reclaimable" in out and "MiB" in out
    assert "no OOM risk" in out


def test_check_dry_run_json(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "check",
        "--once",
        "--dry-run",
        "--prometheus-url",
        url,
        "--at",
        "2026-11-01T03:26:00Z",
        "--output",
        "json",
    )
    assert code == 0
    data = json.loads(out)
    alerts = {(a["namespace"], a["pod"]): a for a in data["alerts"]}
    leak = alerts[("default", d.LEAK.name)]
    assert leak["kind"] == "memory" and leak["severity"] == "critical"
    assert CONTRACT_REPORT_FIELDS - {"oom_kills"} <= leak.keys()


def test_ambiguous_name_names_both(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", "twin-0001", "--prometheus-url", url, "--at", AT)
    assert code == EXIT_INPUT
    assert "team-a/twin-0001" in err and "team-b/twin-0001" in err
    code, out, _ = run(
        capsys, "report", "twin-0001", "-n", "team-b", "--prometheus-url", url, "--at", AT
    )
    assert code == 0 and "team-b/twin-0001" in out


def test_unknown_pod_offers_closest(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", "cache-5c4x-q1", "--prometheus-url", url, "--at", AT)
    assert code == EXIT_INPUT
    assert "no pod named or starting with 'cache-5c4x-q1'" in err
    assert "Closest: default/cache-5c4b-q1" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", 'x"}) or vector(1) or up{a="'], "is not a pod name"),
        (["report", "api", "--at", "yesterday"], "bad time"),
        (["report", "api", "--at", "2026-11-01T02:10:00"], "say which time zone"),
        (["report", "api", "--range", "six hours"], "bad duration"),
        (["report", "api", "--at", "0001-01-01T00:00:00+14:00"], "between 1970 and 2262"),
        (["check", "--dry-run", "--at", "9999-12-31T23:59:59-14:00"], "between 1970 and 2262"),
        (["report", "api", "--range", "99999999d"], "at most 3650d"),
        (["report"], "the following arguments are required: target"),
        (["report", "api", "--prometheus-url", "localhost:9090"], "must be an http"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == EXIT_INPUT
    assert message in err
    assert "Traceback" not in err + out


def test_hostile_target_touches_nothing(
    prometheus_for: PrometheusFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    server = prometheus_for(d.MAIN)
    before = server.query_requests_served()
    code, _, _ = run(
        capsys, "report", 'x"}) or vector(1) or up{a="', "--prometheus-url", server.url
    )
    assert code == EXIT_INPUT
    assert server.query_requests_served() == before


def test_bad_config_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "podmem.yaml"
    config.write_text("prometheus_ur: http://x\n")
    code, _, err = run(capsys, "report", "api", "--config", str(config))
    assert code == EXIT_INPUT
    assert "prometheus_ur: unknown key" in err


def test_unreachable_prometheus(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(capsys, "check", "--once", "--dry-run", "--prometheus-url", url)
    assert code == EXIT_SOURCE
    assert f"cannot reach Prometheus at {url}" in err
    assert "Traceback" not in err + out


class _Garbage(BaseHTTPRequestHandler):
    """Answers like things that are not Prometheus: HTML, broken JSON, errors, slowness."""

    mode = "html"

    def _answer(self) -> None:
        body, status = {
            "html": (b"<html>login</html>", 200),
            "json-wrong": (b'{"status":"success","data":{"resultType":"matrix"}}', 200),
            "not-a-list": (b'{"status":"success","data":{"result":"oops"}}', 200),
            "unauthorized": (b"unauthorized", 401),
            "error": (b'{"status":"error","error":"boom"}', 500),
        }[self.server.mode]  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def garbage() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("html", "not with JSON"),
        ("json-wrong", "not a PromQL API response"),
        ("not-a-list", "not a vector"),
        ("unauthorized", "refused the request"),
        ("error", "failed the query"),
    ],
)
def test_prometheus_answering_garbage(
    garbage: ThreadingHTTPServer, capsys: pytest.CaptureFixture[str], mode: str, message: str
) -> None:
    garbage.mode = mode  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{garbage.server_address[1]}"
    code, out, err = run(capsys, "check", "--once", "--dry-run", "--prometheus-url", url)
    assert code == EXIT_SOURCE
    assert message in err
    assert "Traceback" not in err + out


def test_demo_runs_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--output-dir", str(tmp_path))
    assert code == 0
    assert "cache_heavy" in out.lower() and "critical" in out


def test_readme_configuration_table_is_current() -> None:
    from bot.config_reference import config_table

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert config_table() in readme, "run `python -m bot.config_reference` and update README.md"
