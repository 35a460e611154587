"""Start bench/worker.py (the bot in its own process) against a Prometheus-compatible URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.k8s_standin import kubeconfig

# Digests a worker runs, the median reported (a digest's wall swings with Prometheus's
# garbage collector more than a cycle's).
DIGEST_REPEATS = 3


def run_worker(config: dict[str, Any], *, kube_url: str, work: Path) -> dict[str, Any]:
    """The worker's one JSON line; its stderr's tail in the error if it fails."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig(work / "kubeconfig", kube_url))}
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker", json.dumps(config)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:  # negative: killed by that signal (SIGKILL: out of memory?)
        raise RuntimeError(f"bench.worker exited {done.returncode}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
