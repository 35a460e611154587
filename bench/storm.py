"""The alert storm (issue 15, item 3): at 20 000 containers, 2 000 cross the warning ratio at
one instant, as when some nodes go bad and every healthy service on them balloons.

The cluster is the benchmark's own (bench/cluster.py); the steady pods of the first nodes (every
one of them, node by node, until `crossing` are taken) hold ~20 % of their limit until the
jump, then 85 % from that scrape on: over the warning ratio (0.8), under the critical (0.9).
The bot checks every minute; the alerts come once the ratio has held for for_duration_seconds.

Measured: the cycle that tells the storm (against the steady cycles of the same run), the Slack
calls it makes, the state document's bytes, and when the last notice would reach Slack with
its one-message-per-second-per-channel pacing. The bot runs with no pacing (the cycle's own
cost); the delivery time is computed from the posts per channel x the default interval
(slack_channel_interval_seconds, 1 s), not waited for in real time.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.bot_process import run_worker
from bench.cluster import START, DataDir, make_spec, mirror_pods
from bot.scenarios import ClusterSpec
from bot.scenarios.behaviours import MIB, Behaviour, Sample, Steady, _wobble
from bot.settings import load_settings
from tests.k8s_standin import KubeStandIn
from tests.prometheus_harness import PrometheusServer
from tests.slack_standin import SlackStandIn

# What counts as a post: a message in a channel or thread, or a file shared there.
POSTS = ("chat.postMessage", "files.completeUploadExternal")
TARGETS = {"cycle_ratio": 2.0, "slack_posts": 30, "state_bytes": 256 * 1024, "delivered_s": 120}


@dataclass(frozen=True)
class Surge(Behaviour):
    """Steady, then from `jump_at` (seconds since the container started) `after` of its limit."""

    rss: float = 0.0
    limit: float | None = None
    jump_at: float = 0.0
    after: float = 0.85
    cache: float = 8 * MIB
    phase: float = 0.0

    def sample_in_run(self, seconds_running: float) -> Sample:
        if seconds_running < self.jump_at:
            rss = self.rss + _wobble(seconds_running, 0.02 * self.rss, self.phase)
        else:
            limit = self.limit or 0.0
            target = self.after * limit - self.cache / 2
            rss = target + _wobble(seconds_running, 0.005 * limit, self.phase)
        return Sample(rss=rss, active_cache=self.cache / 2, inactive_cache=self.cache / 2)


def storm_spec(
    containers: int, crossing: int, *, history_minutes: int, jump_minute: float
) -> tuple[ClusterSpec, list[str]]:
    """The benchmark cluster with `crossing` steady pods, node by node, surging at
    `jump_minute`; also the nodes hit."""
    spec = make_spec(containers, history_minutes=history_minutes, scrape_seconds=60)
    steady = sorted(
        (
            i
            for i, pod in enumerate(spec.pods)
            if isinstance(pod.containers[0].behaviour, Steady) and pod.containers[0].limit
        ),
        key=lambda i: (spec.pods[i].node, i),
    )
    if len(steady) < crossing:
        raise ValueError(f"only {len(steady)} steady pods with a limit; {crossing} asked")
    pods, nodes = list(spec.pods), []
    for i in steady[:crossing]:
        pod, container = pods[i], pods[i].containers[0]
        base = container.behaviour
        assert isinstance(base, Steady) and container.limit
        surge = Surge(
            rss=base.rss,
            limit=container.limit,
            jump_at=jump_minute * 60 - pod.started_after,
            cache=base.cache,
            phase=base.phase,
        )
        pods[i] = replace(pod, containers=(replace(container, behaviour=surge),))
        if pod.node not in nodes:
            nodes.append(pod.node)
    return replace(spec, pods=tuple(pods)), nodes


def measure_storm(
    *,
    containers: int,
    crossing: int,
    history: int,
    repeats: int,
    work: Path,
    keep_in: Path | None = None,
) -> dict[str, Any]:
    jump = history - 12  # minutes after the start: the storm's checks end before the data does
    print(f"== storm: {crossing} of {containers} containers surge at minute {jump}", flush=True)
    spec, nodes = storm_spec(containers, crossing, history_minutes=history, jump_minute=jump)
    data = DataDir.of(
        "prom-storm",
        work=work,
        keep_in=keep_in,
        shapers=(storm_spec, Surge),
        containers=containers,
        crossing=crossing,
        history=history,
        jump=jump,
    )
    cycles = _run_cycles(spec, data, jump=jump, repeats=repeats, work=work, name="storm")
    # The same checks of the same cluster without the surge (the size benchmark's data): what
    # the cluster posts anyway (its crash loops' kills, its leaks' escalations), so the storm's
    # own posts are told apart from the traffic any minute of this cluster has.
    calm_spec = make_spec(containers, history_minutes=history, scrape_seconds=60)
    calm_data = DataDir.of(
        f"prom-{containers}", work=work, keep_in=keep_in, containers=containers, history=history
    )
    calm = _run_cycles(calm_spec, calm_data, jump=jump, repeats=repeats, work=work, name="calm")
    for cycle, quiet in zip(cycles, calm, strict=True):
        cycle["calm_posts"] = quiet["posts"]
        cycle["storm_posts"] = cycle["posts"] - quiet["posts"]
        cycle["calm_wall_s"], cycle["calm_cpu_s"] = quiet["wall_s"], quiet["cpu_s"]
    steady_cycles, storm_cycles = cycles[:repeats], cycles[repeats:]
    storm = max(storm_cycles, key=lambda c: c["storm_posts"])
    steady_s = statistics.median(c["wall_s"] for c in steady_cycles)
    interval = load_settings(slack_bot_token="xoxb-test").slack_channel_interval_seconds
    # The sender paces each channel: its n-th post leaves (n - 1) intervals after the first.
    delivered = storm["wall_s"] + max(0, storm["posts_per_channel_max"] - 1) * interval
    result = {
        "containers": containers,
        "crossing": crossing,
        "nodes": len(nodes),
        "cycle_s": round(storm["wall_s"], 3),
        "steady_cycle_s": round(steady_s, 3),
        "cycle_ratio": round(storm["wall_s"] / steady_s, 2),
        "storm_cpu_s": round(storm["cpu_s"], 3),
        # The same minute's check without the surge: what that cycle costs anyway.
        "calm_cycle_s": round(storm["calm_wall_s"], 3),
        "calm_cpu_s": round(storm["calm_cpu_s"], 3),
        "slack_posts": storm["storm_posts"],
        "slack_posts_how": "the storm cycle's posts minus the same check's on the same cluster "
        "without the surge",
        "slack_posts_total": storm["posts"],
        "calm_posts": storm["calm_posts"],
        "slack_calls": storm["slack_calls"],
        "state_bytes": max(c["state_bytes"] for c in cycles),
        "delivered_s": round(delivered, 1),
        "channel_interval_s": interval,
        "delivered_how": "computed: storm cycle + (posts in the busiest channel - 1) x interval",
        "alerting_cycles": sum(1 for c in storm_cycles if c["storm_posts"] > 0),
        "cycles": [
            {
                k: c[k]
                for k in (
                    "wall_s",
                    "cpu_s",
                    "sent",
                    "posts",
                    "calm_posts",
                    "storm_posts",
                    "calm_wall_s",
                    "state_bytes",
                    "slack_calls",
                )
            }
            for c in cycles
        ],
        "peak_rss_mb": round(max(c["peak_rss_mb"] for c in cycles), 1),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    result["targets_met"] = {
        "cycle_ratio": result["cycle_ratio"] <= TARGETS["cycle_ratio"],
        "slack_posts": result["slack_posts"] <= TARGETS["slack_posts"],
        "state_bytes": result["state_bytes"] <= TARGETS["state_bytes"],
        "delivered_s": result["delivered_s"] <= TARGETS["delivered_s"],
    }
    return result


def _run_cycles(
    spec: ClusterSpec, data: DataDir, *, jump: float, repeats: int, work: Path, name: str
) -> list[dict[str, Any]]:
    """The worker's cycles against `spec`'s data: a warm-up; steady checks 10 s of data apart
    in the minute before the jump (as the size benchmark's), so they tell next to nothing new;
    then a check every minute after it, until the warning ratio has held for 5 min. Each cycle
    with the Slack calls made while it ran and its posts (the busiest channel's too)."""
    prometheus = PrometheusServer(spec, data.path, reuse=data.reusable)
    data.done()
    (data.path / "data.om").unlink(missing_ok=True)

    def at(minutes: float) -> str:
        return (START + timedelta(minutes=minutes)).isoformat()

    steady = [jump - 10 / 60 * (repeats - r) for r in range(repeats)]
    after = [jump + m for m in range(1, 7)]
    try:
        with KubeStandIn() as kube, SlackStandIn() as slack:
            mirror_pods(kube, spec, START + timedelta(minutes=jump))
            state = work / f"state-{name}.db"
            state.unlink(missing_ok=True)
            config = {
                "prometheus_url": prometheus.url,
                "slack_api_url": slack.api_url,
                "state_path": str(state),
                "cycle_times": [at(m) for m in [jump - 2, *steady, *after]],
            }
            worker = run_worker(config, kube_url=kube.url, work=work)
            calls = slack.calls
    finally:
        prometheus.stop()
        data.release()
    cycles: list[dict[str, Any]] = worker["cycles"]
    ends = [c["began"] for c in cycles[1:]] + [float("inf")]
    for cycle, end in zip(cycles, ends, strict=True):
        mine = [c for c in calls if cycle["began"] <= c.at < end]
        cycle["slack_calls"] = dict(Counter(c.method for c in mine))
        per_channel = Counter(
            str(c.args.get("channel") or c.args.get("channel_id"))
            for c in mine
            if c.method in POSTS
        )
        cycle["posts"] = sum(per_channel.values())
        cycle["posts_per_channel_max"] = max(per_channel.values(), default=0)
        cycle["peak_rss_mb"] = worker["peak_rss_mb"]
    return cycles
