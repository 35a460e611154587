"""One bot, in its own process: a warm-up cycle, timed cycles, timed digests, each timed one
followed by its floor (its own queries replayed by a bare client).

Run in a subprocess so its CPU time and peak RSS are the bot's alone, as in production.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from statistics import median

import requests

from bench.baselines import all_at_once_seconds, floor_seconds
from bot.cycle import run_cycle, run_digest
from bot.settings import load_settings
from bot.state.sqlite import SqliteStore
from bot.wiring import build


def served_queries(url: str) -> int:
    """Prometheus's own count of query API requests (its /metrics is not one of them)."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("prometheus_http_requests_total{")
            and ('handler="/api/v1/query"' in line or 'handler="/api/v1/query_range"' in line)
        )
    )


def peak_rss_mb() -> float:
    """This process's own peak resident memory. Not getrusage's ru_maxrss: Linux carries a
    process's high-water mark across exec, so a worker started by the bench (which holds the
    Kubernetes stand-in's 100 000 pods, ~640 MB) reported the bench's peak, not its own.
    VmHWM is the high-water mark of the worker's own address space."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: an upper bound


def state_bytes(path: str) -> int:
    """Bytes of the state document (the one row the SQLite store keeps), 0 before any write."""
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT length(CAST(body AS BLOB)) FROM state WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def main() -> int:
    config = json.loads(sys.argv[1])
    settings = load_settings(
        prometheus_url=config["prometheus_url"],
        slack_api_url=config["slack_api_url"],
        slack_bot_token="xoxb-test",
        slack_channel="#bench",
        # 0: the cycle's own cost; the storm bench computes Slack's pacing from the posts.
        slack_channel_interval_seconds=config.get("channel_interval", 0),
        prometheus_timeout_seconds=120,
        log_level="WARNING",
    )
    # Wired as `podmem run` wires itself: Slack (and webhooks when routes name them), and
    # charts drawn by its chart worker process (`chart_processes`), whose CPU time and
    # memory are not the bot process's own figures below.
    parts = build(
        settings,
        store=SqliteStore(Path(config["state_path"])),
        chart_processes=settings.chart_processes,
    )
    source, kubernetes, sender, store = parts.source, parts.kubernetes, parts.sender, parts.store
    times = [datetime.fromisoformat(t) for t in config["cycle_times"]]

    url = settings.prometheus_url
    floors = bool(config.get("floors"))  # not for the storm, whose cycles follow a timeline
    # The floors' bare client runs in a process of its own: in this one, its threads and
    # answers raised the bot's measured peak RSS (159 -> 174 MB at 20 000 containers).
    client = ProcessPoolExecutor(1, mp_context=get_context("spawn"))

    def one(at: datetime, *, floor: bool = True) -> dict[str, float]:
        queries, calls = served_queries(settings.prometheus_url), kubernetes_calls()
        began = time.monotonic()  # the clock the Slack stand-in stamps its calls with
        wall, cpu = time.perf_counter(), time.process_time()
        report = run_cycle(
            source=source,
            kubernetes=kubernetes,
            store=store,
            sender=sender,
            settings=settings,
            at=at,
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "containers": report.result.containers_checked if report.result else 0,
            "sent": report.delivery.sent,
            # Counted outside the timed region: Prometheus's own counter, and every API call.
            "prometheus_queries": served_queries(settings.prometheus_url) - queries,
            "k8s_requests": kubernetes_calls() - calls,
            "began": began,
            "state_bytes": state_bytes(config["state_path"]),
            # Right after it, with the same queries at the same instant: a floor measured
            # minutes later, after every cycle, saw another Prometheus (its heap, the page
            # cache) and made the ratio swing with the order things ran in.
            "floor_s": (
                client.submit(
                    floor_seconds, url, at, source.last_rounds, source.last_ranges
                ).result()
                if floor
                else 0.0
            ),
        }

    def kubernetes_calls() -> int:
        return kubernetes.calls if kubernetes else 0

    # The warm-up posts what is firing, with charts: not what a steady cycle costs.
    warm = one(times[0], floor=False)
    cycles = [one(at, floor=floors) for at in times[1:]]
    last_rounds = source.last_rounds
    last_ranges = source.last_ranges
    peak_cycle_mb = peak_rss_mb()
    digest = None
    if config.get("digest_time"):
        # Several digests, the median reported: one run's wall swings by a second or more
        # with Prometheus's garbage collector (seen 5.0-7.2 s at 20 000 containers), and the
        # floor and the cycle are medians too. Each posts, as a daily digest would, and is
        # followed by its floor: every query it sent, with no round waiting for another.
        runs, digest_floors = [], []
        at = datetime.fromisoformat(config["digest_time"])
        for _ in range(int(config.get("digest_repeats", 1))):
            wall, cpu = time.perf_counter(), time.process_time()
            run_digest(
                source=source,
                kubernetes=kubernetes,
                store=store,
                sender=sender,
                settings=settings,
                at=at,
            )
            runs.append((time.perf_counter() - wall, time.process_time() - cpu))
            digest_floors.append(
                client.submit(
                    all_at_once_seconds, url, at, source.last_rounds, source.last_ranges
                ).result()
            )
        digest = {
            "wall_s": median(w for w, _ in runs),
            "cpu_s": median(c for _, c in runs),
            "runs_s": [round(w, 3) for w, _ in runs],
            "floors_s": [round(f, 3) for f in digest_floors],
            "ratio": median(w / f for (w, _), f in zip(runs, digest_floors, strict=True)),
            "queries": source.last_rounds,
            "ranges": source.last_ranges,
        }
    client.shutdown()
    print(
        json.dumps(
            {
                "warm": warm,
                "cycles": cycles,
                "digest": digest,
                "peak_rss_mb": peak_cycle_mb,
                "queries_of_last_cycle": last_rounds,
                "ranges_of_last_cycle": last_ranges,
                "peak_rss_with_digest_mb": peak_rss_mb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
