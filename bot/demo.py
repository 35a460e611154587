"""`podmem demo`: the real pipeline over simulated workloads, no cluster, no Prometheus.

The same check, lifecycle, outbox, rendering and chart code as in production; only the source
(SimulatedSource, the interface PrometheusSource implements) and the sink differ. The sink
prints each message as it would read in Slack, writes the charts and an HTML preview, and —
with SLACK_BOT_TOKEN and PODMEM_SLACK_CHANNEL set — posts them to that channel too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.cycle import run_cycle, run_digest
from bot.delivery.charts import ChartMaker
from bot.delivery.outbox import SendResult
from bot.delivery.slack import SlackSender
from bot.render.compose import SlackComposer
from bot.render.html import HtmlPage
from bot.render.slack import fit
from bot.render.terminal import render_blocks
from bot.scenarios import ClusterSpec, named_pod
from bot.settings import Settings, load_settings
from bot.slack_app.answers import Answers, Asker
from bot.sources.simulated import SimulatedSource
from bot.state.document import MessageRef, Notification
from bot.state.memory import MemoryStore

DEMO_START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
# Data minutes at which the demo runs a check, and what a reader should notice.
MOMENTS = (
    (100, "Everything looks calm."),
    (130, "ingest's usage is pinned at its limit by page cache: podmem stays quiet, rightly."),
    (
        180,
        "Both leaks' working sets have stayed above 80 % of the limit for 5 min: warning. "
        "For ingest it is now the working set itself, not cache.",
    ),
    (200, "Both are about 20 minutes from the limit: critical, each message is edited."),
    (228, "Both were OOM-killed and restarted; a new deployment, resizer, crash-loops."),
    (245, "After the storm."),
)


def demo_cluster() -> ClusterSpec:
    return ClusterSpec(
        pods=(
            named_pod("leak", "shop", "checkout-7d9f-x2k4p"),
            named_pod("leak-file-cache", "shop", "ingest-5c4b-q1w9z"),
            named_pod("steady", "shop", "frontend-6b8c-m2n7v"),
            named_pod("no-limit", "batch", "reporter-84d2-t5k8s"),
            named_pod("over-provisioned", "data", "search-9f1e-p3r6d"),
            named_pod("crashloop-oom", "batch", "resizer-3a7b-z8x2c", started_after=218 * 60),
        ),
        start=DEMO_START,
        duration=timedelta(hours=5),
    )


@dataclass
class DemoSink:
    """The outbox's sender for the demo: prints, draws, keeps a page; forwards to Slack."""

    output_dir: Path
    charts: ChartMaker
    composer: SlackComposer
    slack: SlackSender | None
    page: HtmlPage = field(default_factory=lambda: HtmlPage("podmem demo"))
    count: int = 0
    chart_files: list[Path] = field(default_factory=list)

    def prepare(self, pending: Sequence[Notification]) -> None:
        if self.slack is not None:
            self.slack.prepare(pending)

    def send(
        self, note: Notification, message: MessageRef | None, *, channel_id: str | None = None
    ) -> SendResult:
        result = (
            self.slack.send(note, message, channel_id=channel_id)
            if self.slack
            else SendResult(ok=True)
        )
        if not result.ok:
            return result
        calls = self.composer.calls(note.notice, note.channel)
        call, more = calls[note.parts_sent], note.parts_sent + 1 < len(calls)
        self.count += 1
        ts = result.ts or (message.ts if message else None) or f"{self.count}.000"
        done = SendResult(
            ok=True, ts=ts, channel=note.channel, more=more, posted=call.action == "post"
        )
        if call.action == "upload" and call.chart is not None:
            png = self.charts(call.chart)
            if png:
                name = f"chart-{self.count:02d}.png"
                (self.output_dir / name).write_bytes(png)
                self.chart_files.append(self.output_dir / name)
                print(f"    ↳ chart in the thread: {self.output_dir / name}")
                self.page.message("", None, reply=True, image=name)
            return done
        reply = call.action == "reply"
        label = {"post": "", "update": "(edits the message above ↑)", "reply": ""}[call.action]
        if label:
            print(f"    {label}")
        print(render_blocks(call.text, call.blocks, reply=reply))
        edited = "· edited: this replaces the alert above" if call.action == "update" else ""
        self.page.message(call.text, call.blocks, reply=reply, note=edited)
        return done


def demo_command(args: argparse.Namespace) -> int:
    return run_demo(output_dir=args.output_dir)


def run_demo(*, output_dir: Path) -> int:
    output_dir.mkdir(parents=True, exist_ok=True)
    cluster = demo_cluster()
    posting = bool(os.environ.get("SLACK_BOT_TOKEN") and os.environ.get("PODMEM_SLACK_CHANNEL"))
    settings: Settings = load_settings(
        kubernetes="off",
        slack_channel=os.environ.get("PODMEM_SLACK_CHANNEL") or "#podmem-demo",
        slack_channel_interval_seconds=1.0 if posting else 0.0,
    )
    source = SimulatedSource(cluster, settings)
    charts = ChartMaker(source, settings)
    slack = SlackSender(settings, charts=charts) if posting else None
    sink = DemoSink(output_dir, charts, SlackComposer(settings), slack)
    store = MemoryStore()
    print(
        "podmem demo: six simulated workloads — a memory leak, a leak beside a file writer "
        "whose page cache fills the limit, and four more."
    )
    print("The real pipeline runs; only the data is simulated.\n")
    for step, (minute, caption) in enumerate(MOMENTS, start=1):
        at = cluster.at(minute * 60)
        banner = f"[{step}/{len(MOMENTS)}] {at:%H:%M} — {caption}"
        print(f"\n{banner}")
        sink.page.moment(banner)
        report = run_cycle(
            source=source, kubernetes=None, store=store, sender=sink, settings=settings, at=at
        )
        if not report.delivery.sent:
            print("    (nothing to say)")
        sys.stdout.flush()
    _slash_example(sink, source, settings, cluster.at(130 * 60))
    print(f"\n[digest] {cluster.at(250 * 60):%H:%M} — the daily digest")
    sink.page.moment("The daily digest")
    run_digest(
        source=source,
        kubernetes=None,
        store=store,
        sender=sink,
        settings=settings,
        at=cluster.at(250 * 60),
    )
    page = output_dir / "index.html"
    page.write_text(sink.page.render(), encoding="utf-8")
    print(f"\nWrote {len(sink.chart_files)} chart(s) and a Slack-like preview: {page}")
    if posting:
        print(f"Also posted to {settings.slack_channel}.")
    return 0


def _slash_example(
    sink: DemoSink, source: SimulatedSource, settings: Settings, at: datetime
) -> None:
    """What `/podmem shop/ingest` answers at 11:10, when usage is pinned at the limit."""
    banner = f"/podmem shop/ingest --at {at:%H:%M}  (what a user sees, only to them)"
    print(f"\n[slash] {banner}")
    sink.page.moment(banner)
    answers = Answers(source=source, kubernetes=None, settings=settings, clock=lambda: at)
    reply = answers.slash("shop/ingest", Asker(user_id="U0DEMO", channel_id="C0DEMO"))
    for part in fit(reply.message):
        print(render_blocks(part.text, part.blocks))
        sink.page.message(part.text, part.blocks)
