"""`podmem run` end to end: real Prometheus with the incident, the Kubernetes API stand-in, the
Slack stand-in; the bot replays the incident one step of data per check (so every check lands
on the same data instant, however busy the machine) and Slack sees what an SRE would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.k8s_standin import KubeStandIn, kubeconfig
from tests.prometheus_harness import free_port
from tests.slack_standin import SlackStandIn

CHANNEL = "#alerts"


def test_run_posts_edits_charts_and_the_digest(
    prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    with KubeStandIn() as kube, SlackStandIn() as slack:
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig(tmp_path / "kubeconfig", kube.url)),
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "secret",
            "PODMEM_SLACK_MODE": "http",
            "PODMEM_HTTP_PORT": str(free_port()),
            "PODMEM_SLACK_API_URL": slack.api_url,
            "PODMEM_SLACK_CHANNEL": CHANNEL,
            "PODMEM_SLACK_CHANNEL_INTERVAL_SECONDS": "0",
            "PODMEM_STATE_PATH": str(tmp_path / "state.db"),
            "PODMEM_PROMETHEUS_URL": prometheus_for(d.TIMELINE).url,
            "PODMEM_CHECK_INTERVAL_SECONDS": "5",
            "PODMEM_DIGEST_CRON": "* * * * *",  # every minute of wall-clock time
        }
        # Checks at data minutes 170, 175, 180, ...: warning (~180), critical (~200), the kill
        # (~222). The digest fires on the wall clock's next minute, at whichever step that is.
        replay = d.minutes(d.TIMELINE, 170).isoformat()
        log = (tmp_path / "run.log").open("wb")
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
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 240  # generous: a slow machine only takes longer
            while time.monotonic() < deadline:
                top = slack.top_level(CHANNEL)
                texts = [m["text"] for m in top]
                # SIGTERM ends a drain between notices (bounded shutdown): wait for the last edit.
                ended = any(m["edits"] >= 2 for m in top if "deployment/leak · app" in m["text"])
                if (
                    ended
                    and any("daily digest" in t for t in texts)
                    and any("OOMKilled" in t for t in texts)
                ):
                    break
                time.sleep(0.5)
        finally:
            bot.terminate()
            bot.wait(timeout=20)
        top = slack.top_level(CHANNEL)
        memory = next(m for m in top if "default/deployment/leak · app" in m["text"])
        assert memory["edits"] == 2  # escalated, then ended by the OOM kill
        replies = [
            m["text"].split(" ")[0]
            for m in slack.thread(CHANNEL, memory["ts"])
            if not m.get("files")
        ]
        assert replies == ["Escalated", "Ended"]
        assert memory["text"].startswith(":boom: *ENDED BY OOM KILL · default/deployment/leak")
        assert any(":boom: *OOMKilled*" in m["text"] for m in top)
        assert any("podmem daily digest" in m["text"] for m in top)
        uploads = slack.uploads()
        assert memory["ts"] in {u.thread_ts for u in uploads}  # the chart in the alert's thread
        # Nothing posted twice. The digest is the exception: it fires every wall-clock minute
        # here, and a loaded machine may see two minutes pass before the kill.
        said = [m["text"] for m in top if "daily digest" not in m["text"]]
        assert len(set(said)) == len(said)
        output = (tmp_path / "run.log").read_text()
        assert "Traceback" not in output and "xoxb-test" not in output
