"""`python -m bench [--quick]`: a check cycle at 1 000, 5 000 and 20 000 containers (or
`--sizes`, 100 000 included) against a real Prometheus, compared in the same run with the
floor, the naive pattern and the peer (podmem's rule group evaluated by Prometheus); the
digest; the same on VictoriaMetrics (`--victoria-sizes`); the alert storm (`--storm`); and
/podmem latencies over HTTP mode. Writes bench/results.json and bench/RESULTS.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

from bench.baselines import naive_seconds, ratio_to_own_floor
from bench.bot_process import DIGEST_REPEATS, run_worker
from bench.cluster import START, DataDir, make_spec, mirror_pods
from bench.engines import measure_victoria
from bench.report import write_markdown
from bench.rules import group_rules, rules_seconds
from bench.startup import measure_startup
from bench.storm import measure_storm
from bot.scenarios import write_openmetrics
from tests.k8s_standin import KubeStandIn
from tests.prometheus_harness import PrometheusServer, free_port
from tests.slack_requests import signed_post, slash_form
from tests.slack_standin import SlackStandIn

HERE = Path(__file__).parent
SECRET = "bench-secret"
# Signed /podmem requests at once (issue 15: 50 concurrent at 100 000 containers).
BURST = 50


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_size(
    containers: int,
    *,
    repeats: int,
    history: int,
    work: Path,
    naive: bool,
    slash_requests: int,
    victoria: bool = False,
    keep_in: Path | None = None,
) -> dict[str, Any]:
    print(
        f"== {containers} containers: generating and backfilling {history} min of data", flush=True
    )
    spec = make_spec(containers, history_minutes=history, scrape_seconds=60)
    data = DataDir.of(
        f"prom-{containers}", work=work, keep_in=keep_in, containers=containers, history=history
    )
    reused = data.reusable
    started = time.monotonic()
    # Past 20 000 containers the text would be tens of GB: backfilled a slice at a time
    # (VictoriaMetrics, which imports the whole text, is then not measured at that size).
    chunk = None if victoria else 20000
    prometheus = PrometheusServer(spec, data.path, chunk_pods=chunk, reuse=reused)
    data.done()
    backfill_s = time.monotonic() - started
    openmetrics = data.path / "data.om"
    openmetrics.unlink(missing_ok=True)  # GBs; VictoriaMetrics gets its own copy below
    print(
        f"   {'served kept blocks' if reused else 'backfilled'} in {backfill_s:.0f} s", flush=True
    )
    last = history - 2
    # Steady cycles 10 s of data apart, as a bot checking every few seconds would see them.
    times = [START + timedelta(minutes=last - 1, seconds=-10 * r) for r in range(repeats + 1)][::-1]
    result: dict[str, Any] = {
        "containers": containers,
        "backfill_s": round(backfill_s, 1),
        "data_reused": reused,
    }
    try:
        with KubeStandIn() as kube, SlackStandIn() as slack:
            mirror_pods(kube, spec, times[0])
            kube.clear_requests()
            config = {
                "prometheus_url": prometheus.url,
                "slack_api_url": slack.api_url,
                "state_path": str(work / f"state-{containers}.db"),
                "cycle_times": [t.isoformat() for t in times],
                "digest_time": times[-1].isoformat(),
                "digest_repeats": DIGEST_REPEATS,
                "floors": True,
            }
            worker = run_worker(config, kube_url=kube.url, work=work)
            cycles = worker["cycles"]
            rounds, ranges = worker["queries_of_last_cycle"], worker["ranges_of_last_cycle"]
            # Each cycle and digest was followed by its own floor (bench/worker.py): the
            # ratio is the median of each one's to its floor.
            floors = [c["floor_s"] for c in cycles]
            cycle_s, floor_s = median([c["wall_s"] for c in cycles]), median(floors)
            ratio = ratio_to_own_floor(cycles)
            digest = worker["digest"]
            group = group_rules()
            peer = [rules_seconds(prometheus.url, times[-1], group) for _ in range(repeats)]
            rules_s, rules_base_s = median([p[0] for p in peer]), median([p[1] for p in peer])
            result |= {
                "cycle_s": round(cycle_s, 3),
                "floor_s": round(floor_s, 3),
                "ratio_to_floor": round(ratio, 3),
                "rules_s": round(rules_s, 3),
                "floor_to_rules": round(floor_s / rules_s, 3),
                "rules_base_s": round(rules_base_s, 3),
                "floor_to_rules_base": round(floor_s / rules_base_s, 3),
                "bot_cpu_s": round(median([c["cpu_s"] for c in cycles]), 3),
                "peak_rss_mb": round(worker["peak_rss_mb"], 1),
                "peak_rss_with_digest_mb": round(worker["peak_rss_with_digest_mb"], 1),
                "digest_s": round(digest["wall_s"], 3),
                "digest_cpu_s": round(digest["cpu_s"], 3),
                "digest_runs_s": digest["runs_s"],
                "digest_floors_s": digest["floors_s"],
                "digest_floor_s": round(median(digest["floors_s"]), 3),
                "digest_to_floor": round(digest["ratio"], 3),
                "warm_cycle_s": round(worker["warm"]["wall_s"], 3),
                "warm_cycle_posts": worker["warm"]["sent"],
                "cycles": cycles,
                "floors_s": [round(f, 3) for f in floors],
            }
            result["prometheus_queries"] = max(c["prometheus_queries"] for c in cycles)
            result["k8s_requests"] = max(c["k8s_requests"] for c in cycles)
            # What the last cycle asked, by kind: where a rising count comes from.
            kinds = Counter(query[:60] for query, *_ in ranges)
            result["last_cycle_queries"] = {
                "instant": sum(len(r) for r in rounds),
                "range": sorted(kinds.items()),
            }
            if naive:
                naive_s, naive_queries = naive_seconds(prometheus.url, spec, times[-1])
                result |= {
                    "naive_s": round(naive_s, 2),
                    "naive_queries": naive_queries,
                    "naive_ratio": round(naive_s / cycle_s, 1),
                }
            if slash_requests:
                result["slash"] = measure_slash(
                    prometheus.url, slack, spec, times[-1], work, slash_requests
                )
        if victoria:
            # The same data, cycles, floor and digest; Prometheus idle meanwhile (not stopped:
            # the answers of the last cycle's queries are compared with it).
            print("   the same on VictoriaMetrics", flush=True)
            with openmetrics.open("w", encoding="utf-8") as out:
                write_openmetrics(spec, out)
            result["victoriametrics"] = measure_victoria(
                spec, openmetrics, times, work=work, compare_with=prometheus.url
            )
    finally:
        prometheus.stop()
        openmetrics.unlink(missing_ok=True)
        data.release()
    print(
        f"   {json.dumps({k: v for k, v in result.items() if k not in ('cycles', 'slash')})}",
        flush=True,
    )
    return result


def measure_slash(
    url: str, slack: SlackStandIn, spec: Any, at: datetime, work: Path, count: int
) -> dict[str, Any]:
    port = free_port()
    config = {
        "prometheus_url": url,
        "slack_api_url": slack.api_url,
        "secret": SECRET,
        "port": port,
        "at": at.isoformat(),
        "state_path": str(work / "slash.db"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.slash_server", json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "ready"
        events = f"http://127.0.0.1:{port}/slack/events"
        pods = [p for p in spec.pods][: max(1, count)]
        acks, reports = [], []
        for i in range(count):
            pod = pods[i % len(pods)]
            name = f"r{i}"
            form = slash_form(
                f"{pod.namespace}/{pod.name} --share",
                slack.response_url(name),
                user=f"U{i:06d}",
                channel="C0BENCH",
            )
            sent = time.monotonic()
            status = signed_post(events, form, secret=SECRET).status_code
            acks.append((time.monotonic() - sent) * 1000)
            assert status == 200, status
            deadline = sent + 30
            while time.monotonic() < deadline:
                uploads = [
                    c for c in slack.calls_to("files.completeUploadExternal") if c.at >= sent
                ]
                if uploads:
                    reports.append((uploads[0].at - sent) * 1000)
                    break
                time.sleep(0.005)
        burst = measure_burst(events, slack, pods, BURST)
        return {
            "requests": count,
            "containers": len(spec.pods),
            "concurrency": BURST,
            "burst": burst,
            "ack_p50_ms": round(percentile(acks, 0.5), 1),
            "ack_p99_ms": round(percentile(acks, 0.99), 1),
            "report_p50_ms": round(percentile(reports, 0.5), 1),
            "report_p99_ms": round(percentile(reports, 0.99), 1),
            "reports_completed": len(reports),
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


def measure_burst(events: str, slack: SlackStandIn, pods: list[Any], count: int) -> dict[str, Any]:
    """`count` signed requests at once, as a storm's worth of clicks arrives: each one's time
    from its last byte sent to its ack's first byte, while the others' reports run. The
    requests are signed and connected beforehand and sent from raw sockets, so the figure is
    the server's, not this client's Python building 200 requests on the same 2 cores."""
    host, port = urlsplit(events).netloc.split(":")
    verifier = SignatureVerifier(SECRET)
    stamp = str(int(time.time()))
    wire = []
    for i in range(count):
        pod = pods[i % len(pods)]
        body = urlencode(
            slash_form(
                f"{pod.namespace}/{pod.name} --share",
                slack.response_url(f"burst{i}"),
                user=f"UB{i:05d}",
                channel="C0BENCH",
            )
        )
        signature = verifier.generate_signature(timestamp=stamp, body=body)
        head = (
            f"POST /slack/events HTTP/1.1\r\nHost: podmem\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nX-Slack-Request-Timestamp: {stamp}\r\n"
            f"X-Slack-Signature: {signature}\r\nConnection: close\r\n\r\n"
        )
        wire.append((head + body).encode())
    conns = [socket.create_connection((host, int(port)), timeout=60) for _ in range(count)]
    ready = threading.Barrier(count)

    def one(i: int) -> tuple[int, float]:
        ready.wait()
        conns[i].sendall(wire[i])
        sent = time.monotonic()
        first = conns[i].recv(64)
        took = (time.monotonic() - sent) * 1000
        while conns[i].recv(4096):  # to the end: a reset mid-answer is not what Slack does
            pass
        conns[i].close()
        return int(first.split(b" ")[1]), took

    shared_before = len(slack.top_level("C0BENCH"))
    began = time.monotonic()
    with ThreadPoolExecutor(count) as pool:
        answers = list(pool.map(one, range(count)))
    acks = [ms for _, ms in answers]

    def charted() -> int:
        return sum(c.at >= began for c in slack.calls_to("files.completeUploadExternal"))

    deadline = time.monotonic() + 120  # the reports finish before anything else is measured
    # Until every chart is uploaded, not only every message posted: a message goes first
    # and its chart follows it into the thread.
    while charted() < count and time.monotonic() < deadline:
        time.sleep(0.1)
    # Each report is ready when its chart's upload completes; which request it answers does
    # not matter for the distribution: the k-th to finish waited that long from the burst.
    ready = sorted(
        (c.at - began) * 1000
        for c in slack.calls_to("files.completeUploadExternal")
        if c.at >= began
    )
    return {
        "requests": count,
        "acked": sum(status == 200 for status, _ in answers),
        "ack_p50_ms": round(percentile(acks, 0.5), 1),
        "ack_p99_ms": round(percentile(acks, 0.99), 1),
        "ack_max_ms": round(max(acks), 1),
        "reports_shared": len(slack.top_level("C0BENCH")) - shared_before,
        "charts_uploaded": len(ready),
        "report_p50_ms": round(percentile(ready, 0.5), 1) if ready else None,
        "report_p99_ms": round(percentile(ready, 0.99), 1) if ready else None,
    }


def machine() -> dict[str, Any]:
    version = subprocess.run(
        ["prometheus", "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    memory_kb = int(
        next(
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    )
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "prometheus": version,
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, shorter history")
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument(
        "--victoria-sizes",
        default="1000,20000",
        help="sizes (of --sizes) also measured on VictoriaMetrics; '' for none",
    )
    parser.add_argument(
        "--storm", type=int, default=20000, help="containers of the alert storm; 0: no storm"
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="keep the backfilled Prometheus data here and serve it again in later runs "
        "that generate the same data (100 000 containers take half an hour to backfill)",
    )
    parser.add_argument(
        "--startup-only",
        action="store_true",
        help="measure only `podmem --help`; update that part of results.json",
    )
    args = parser.parse_args(argv)
    if args.startup_only:
        results = json.loads((args.out / "results.json").read_text())
        results["startup"] = measure_startup()
        print(json.dumps(results["startup"], indent=2))
        (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        write_markdown(results, args.out / "RESULTS.md")
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    victoria_sizes = {int(s) for s in args.victoria_sizes.split(",") if s}
    repeats, history = (3, 40) if args.quick else (5, 60)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "sizes": [],
    }
    with tempfile.TemporaryDirectory(prefix="podmem-bench-") as tmp:
        for size in sizes:
            results["sizes"].append(
                measure_size(
                    size,
                    repeats=repeats,
                    history=history,
                    work=Path(tmp),
                    naive=size == 1000,
                    slash_requests=200 if size == max(sizes) else 0,
                    victoria=size in victoria_sizes,
                    keep_in=args.data,
                )
            )
        if args.storm:
            results["storm"] = measure_storm(
                containers=args.storm,
                crossing=args.storm // 10,
                history=history,
                repeats=repeats,
                work=Path(tmp),
                keep_in=args.data,
            )
    slash = next((s.pop("slash") for s in results["sizes"] if "slash" in s), None)
    results["slash"] = slash
    # The second engine at the largest size it ran at; what it answered differently at each.
    engines = [s.pop("victoriametrics") for s in results["sizes"] if "victoriametrics" in s]
    if engines:
        results["engines"] = {
            "victoriametrics": {
                **engines[-1],
                "differences_by_size": {e["containers"]: e["differences"] for e in engines},
            }
        }
        results["engines"]["victoriametrics"].pop("differences")
    results["startup"] = measure_startup()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(results, args.out / "RESULTS.md")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'RESULTS.md'}")
    return 0
