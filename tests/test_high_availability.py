"""Two `podmem run` replicas: one leader on a Lease, one set of posts, a clean handover.

Both processes are the real bot (scheduler, leader election with the kubernetes client's
package, ConfigMap state) against the Kubernetes API stand-in, the Slack stand-in and a real
Prometheus; `--replay-from` holds their clocks inside the generated incident (one second of
data per check), so what they see does not depend on how fast the machine is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.k8s_standin import KubeStandIn, kubeconfig
from tests.prometheus_harness import free_port
from tests.slack_standin import SlackStandIn

CHANNEL = "#alerts"
LEASE_SECONDS = 4


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.fixture
def cluster() -> Iterator[tuple[KubeStandIn, SlackStandIn]]:
    with KubeStandIn() as kube, SlackStandIn() as slack:
        yield kube, slack


def test_one_leader_one_set_of_posts_and_a_clean_handover(
    cluster: tuple[KubeStandIn, SlackStandIn], prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    kube, slack = cluster
    base = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig(tmp_path / "kubeconfig", kube.url)),
        "SLACK_BOT_TOKEN": "xoxb-test",
        "PODMEM_SLACK_API_URL": slack.api_url,
        "PODMEM_SLACK_CHANNEL": CHANNEL,
        "PODMEM_SLACK_CHANNEL_INTERVAL_SECONDS": "0",
        "PODMEM_PROMETHEUS_URL": prometheus_for(d.TIMELINE).url,
        "PODMEM_STATE_BACKEND": "kubernetes",
        "PODMEM_POD_NAMESPACE": "podmem",
        "PODMEM_LEADER_ELECTION": "true",
        "PODMEM_LEASE_DURATION_SECONDS": str(LEASE_SECONDS),
        "PODMEM_LEASE_RENEW_DEADLINE_SECONDS": "3",
        "PODMEM_LEASE_RETRY_PERIOD_SECONDS": "1",
        "PODMEM_CHECK_INTERVAL_SECONDS": "5",
        "PODMEM_SLACK_MODE": "http",
        "SLACK_SIGNING_SECRET": "test-secret",
    }
    ports = {name: free_port() for name in ("a", "b")}
    replay = d.minutes(d.TIMELINE, 182).isoformat()  # the warning is firing
    bot = [sys.executable, "-m", "bot.cli", "run"]
    processes = {
        name: subprocess.Popen(
            [*bot, "--replay-from", replay, "--replay-step", "1s"],
            env={**base, "PODMEM_POD_NAME": f"podmem-{name}", "PODMEM_HTTP_PORT": str(port)},
            stdout=(tmp_path / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for name, port in ports.items()
    }

    def metric(name: str, prefix: str) -> float | None:
        """The sum of one metric's samples on one replica's /metrics (None: not answering)."""
        try:
            text = requests.get(f"http://127.0.0.1:{ports[name]}/metrics", timeout=5).text
        except requests.RequestException:
            return None
        found = [float(x.split()[-1]) for x in text.splitlines() if x.startswith(prefix)]
        return sum(found) if found else None

    def leader_flag(name: str) -> float | None:
        return metric(name, "podmem_leader ")

    def checks_done(name: str) -> float:
        return metric(name, "podmem_checks_total{") or 0.0

    def after_more_checks(name: str, count: int) -> None:
        # Counted, not slept: a busy machine runs fewer checks per second, never fewer here.
        target = checks_done(name) + count
        wait_for(lambda: checks_done(name) >= target, 120, f"{count} more checks on {name}")

    def holder() -> str | None:
        lease = kube.get("coordination.k8s.io/v1", "Lease", "podmem-leader", "podmem")
        return lease["spec"].get("holderIdentity") if lease else None

    try:
        wait_for(lambda: len(slack.top_level(CHANNEL)) >= 1, 120, "the first alert")
        first = holder()
        assert first in ("podmem-a", "podmem-b")
        second = "b" if first == "podmem-a" else "a"
        wait_for(lambda: leader_flag(second) is not None, 60, "the follower's metrics")
        assert leader_flag(first[-1]) == 1.0 and leader_flag(second) == 0.0
        after_more_checks(first[-1], 2)  # more check cycles on the leader: still one message
        assert len(slack.top_level(CHANNEL)) == 1
        assert checks_done(second) == 0  # the follower runs no scheduled job

        processes[first[-1]].send_signal(signal.SIGKILL)
        # How fast follows from the lease settings and the machine's load; what must hold
        # anywhere is that it happens and that the new leader remembers.
        wait_for(lambda: holder() == f"podmem-{second}", 120, "the handover")
        wait_for(lambda: leader_flag(second) == 1.0, 60, "the new leader's jobs")
        after_more_checks(second, 2)  # the new leader checks: it knows the alert from the state
        assert len(slack.top_level(CHANNEL)) == 1
        assert requests.get(f"http://127.0.0.1:{ports[second]}/healthz", timeout=1).ok
        assert requests.get(f"http://127.0.0.1:{ports[second]}/readyz", timeout=1).ok
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    logs = "".join((tmp_path / f"{n}.log").read_text() for n in ports)
    assert "xoxb-test" not in logs and "Traceback" not in logs
