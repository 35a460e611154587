"""Replays the real kubelet /metrics/cadvisor + kube-state-metrics capture in ../shared/fixtures
as a short history a Prometheus can hold: every sample repeated every `step` seconds, with the
labels a Prometheus scrape adds (job, metrics_path, instance, node)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

# A copy of ../shared/fixtures/kubelet-ksm-k8s-1.35 (its README says where it comes from), kept
# in the repository so a clone that stands alone can replay it.
CAPTURE = Path(__file__).resolve().parent / "fixtures" / "kubelet-ksm-k8s-1.35"
# The capture's own time (its cAdvisor samples carry it, in milliseconds).
CAPTURED_AT = datetime.fromtimestamp(1782468875, tz=UTC)
NODE = "datagen-1-35"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(\s+\d+)?$")
TARGETS = {
    "kubelet-metrics-cadvisor.txt": (
        f'job="kubelet",metrics_path="/metrics/cadvisor",instance="{NODE}",node="{NODE}"'
    ),
    "kube-state-metrics.txt": 'job="kube-state-metrics",instance="10.244.0.9:8080"',
}


def replay(minutes: int = 20, step: int = 30) -> tuple[datetime, datetime, object]:
    """(start, end, writer): the capture held constant over `minutes` ending at its time."""
    end = CAPTURED_AT
    start = end - timedelta(minutes=minutes)
    times = [start.timestamp() + i * step for i in range(minutes * 60 // step + 1)]

    def write(out: TextIO) -> None:
        for name, target in TARGETS.items():
            for line in (CAPTURE / name).read_text(encoding="utf-8").splitlines():
                found = SAMPLE.match(line)
                if line.startswith("#") or found is None:
                    continue
                metric, labels, value = found.group(1), found.group(2), found.group(3)
                inner = labels[1:-1] if labels else ""
                series = f"{metric}{{{inner + ',' if inner else ''}{target}}}"
                out.writelines(f"{series} {value} {t:.0f}\n" for t in times)
        out.write("# EOF\n")

    return start, end, write
