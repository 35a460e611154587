"""Answering `/podmem` and the report buttons: the same engine as the CLI, in Block Kit.

Every path ends in a Reply; nothing raises to Bolt (a stack trace must never reach Slack).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.analysis import Thresholds
from bot.errors import InputError, SourceError
from bot.model import ContainerRef, History
from bot.oom import kill_times
from bot.policy import assess_all
from bot.promql import CLUSTER_WIDE, Scope
from bot.render.messages import Renderer
from bot.render.report_blocks import (
    candidates_message,
    error_message,
    help_message,
    report_message,
    top_message,
    workload_message,
)
from bot.render.slack import Message
from bot.report import build_report
from bot.settings import Settings
from bot.slack_app.access import Access
from bot.slack_app.grammar import USAGE, SlashCommand, parse_command
from bot.sources.base import MemorySource
from bot.sources.kubernetes import KubernetesSource
from bot.state.document import ChartRequest, Silence
from bot.targets import ResolutionError, Target

log = logging.getLogger(__name__)
TOP_COUNT = 10
# `/podmem top` asks Prometheus for this many times TOP_COUNT: rows of namespaces the asker
# may not see are dropped after, and the rest must still fill the list.
TOP_SPARE = 5


@dataclass(frozen=True)
class Asker:
    user_id: str
    channel_id: str
    channel_name: str = ""


@dataclass(frozen=True)
class Reply:
    message: Message
    share: bool = False
    chart: ChartRequest | None = None
    # The chart's data, fetched with the report (None: the chart asks for it).
    history: History | None = None


class Answers:
    def __init__(
        self,
        *,
        source: MemorySource,
        kubernetes: KubernetesSource | None,
        settings: Settings,
        clock: Callable[[], datetime],
        silences: Callable[[], Sequence[Silence]] = tuple,
        access: Access | None = None,
    ) -> None:
        """`silences` reads the active snoozes and mutes (the state store's); `access` is
        the rules with their channel names resolved (Access.from_slack): without it, a rule's
        channel given by name matches no channel."""
        self.source, self.kubernetes, self.settings, self.clock = (
            source,
            kubernetes,
            settings,
            clock,
        )
        self.silences = silences
        self.access = access if access is not None else Access(settings.access_rules)
        self.render = Renderer(settings)
        self.zone = ZoneInfo(settings.timezone)

    def slash(self, text: str, asker: Asker) -> Reply:
        return self._safely(lambda: self._slash(text, asker))

    def pod(
        self, ref: ContainerRef, asker: Asker, *, share: bool, range_seconds: float | None = None
    ) -> Reply:
        """A button asked for a pod's report (candidates, Full report, Share with chart)."""
        command = SlashCommand(
            "pod", target=Target(ref.pod, ref.namespace), share=share, range_seconds=range_seconds
        )
        return self._safely(lambda: self._answer(command, asker))

    def _safely(self, work: Callable[[], Reply]) -> Reply:
        try:
            return work()
        except ResolutionError as error:
            return Reply(candidates_message(str(error), error.candidates))
        except InputError as error:
            return Reply(error_message(str(error), USAGE))
        except SourceError as error:
            return Reply(error_message(f"podmem cannot read memory metrics right now: {error}", ""))
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("answering a Slack request failed (incident %s)", incident)
            return Reply(
                error_message(
                    f"Something went wrong inside podmem (incident {incident}, in its log). "
                    "Try again in a minute.",
                    "",
                )
            )

    def _slash(self, text: str, asker: Asker) -> Reply:
        command = parse_command(text, now=self.clock(), zone=self.zone)
        return self._answer(command, asker)

    def _answer(self, command: SlashCommand, asker: Asker) -> Reply:
        if command.kind == "help":
            return Reply(help_message(USAGE))
        allowed = self.access.namespaces(user_id=asker.user_id, channel_id=asker.channel_id)
        if allowed == []:
            raise InputError("/podmem is not enabled for you in this channel")
        # --share posts into the channel: only what everyone there may see, not the asker.
        audience = self.access.audience(channel_id=asker.channel_id) if command.share else None

        def visible(namespace: str) -> bool:
            return self.access.allows(allowed, namespace)

        def publishable(namespace: str) -> bool:
            return visible(namespace) and self.access.allows(audience, namespace)

        def shown(ref: ContainerRef) -> bool:
            return publishable(ref.namespace) and command.cluster in (None, ref.cluster)

        def not_here(namespace: str) -> InputError:
            return InputError(
                f"namespace {namespace} may not be shared into this channel (its access "
                "rules do not allow it): ask without --share to see it yourself"
            )

        at = command.at or self.clock()
        if command.kind == "silences":
            now = self.clock().timestamp()
            active = [
                s
                for s in self.silences()
                if (s.until is None or s.until > now)
                and visible(s.namespace)
                and command.namespace in (None, s.namespace)
                and command.cluster in (None, s.cluster)
            ]
            return Reply(self.render.silences(active))
        if command.kind == "top":
            if command.namespace and not visible(command.namespace):
                raise InputError(f"no namespace {command.namespace!r} you may see")
            if command.namespace and not publishable(command.namespace):
                raise not_here(command.namespace)
            scope = Scope(namespace=command.namespace) if command.namespace else CLUSTER_WIDE
            # Prometheus ranks them; a few spare for those the asker may not see.
            ranked = [
                ref
                for ref in self.source.closest_to_limit(at, scope, TOP_COUNT * TOP_SPARE)
                if shown(ref)
            ][:TOP_COUNT]
            pods = tuple(sorted({(ref.namespace, ref.pod) for ref in ranked}))
            wanted = set(ranked)
            snapshot = self.source.snapshot(at, Scope(pods=pods)) if pods else None
            assessments, _ = assess_all(
                (m for m in (snapshot.containers if snapshot else ()) if m.ref in wanted),
                Thresholds.from_settings(self.settings),
                at=at,
            )
            label = (
                f"namespace {command.namespace}"
                if command.namespace
                else "all namespaces this channel may see"
                if command.share
                else "all namespaces you may see"
            ) + (f" in cluster {command.cluster}" if command.cluster else "")
            return Reply(top_message(assessments, label, TOP_COUNT), share=command.share)
        if command.kind == "workload":
            namespace = command.namespace or ""
            if not visible(namespace):
                raise InputError(f"no namespace {namespace!r} you may see")
            if not publishable(namespace):
                raise not_here(namespace)
            snapshot = self.source.snapshot(at, Scope(namespace=namespace))
            mine, _ = assess_all(
                (m for m in snapshot.containers if m.workload == command.workload and shown(m.ref)),
                Thresholds.from_settings(self.settings),
                at=at,
            )
            return Reply(
                workload_message(command.workload or "", namespace, mine), share=command.share
            )
        assert command.target is not None
        named = command.target.namespace
        if named and visible(named) and not publishable(named):
            raise not_here(named)  # before any query: the answer cannot be posted anyway
        report = build_report(
            command.target,
            source=self.source,
            settings=self.settings,
            at=at,
            range_seconds=command.range_seconds,
            kubernetes=self.kubernetes,
            visible=visible,
        )
        for pod in report.pods:
            if not publishable(pod.namespace):
                raise not_here(pod.namespace)
        chart = None
        if report.containers:
            first = report.containers[0].assessment.memory
            # The chart is the first container's: its kills, not its neighbours'.
            exact, approximate = kill_times(
                (k for i in report.containers for k in i.oom_kills),
                first.ref,
                seen_at=at.timestamp(),
            )
            chart = ChartRequest(
                cluster=first.ref.cluster,
                namespace=first.ref.namespace,
                pod=first.ref.pod,
                container=first.ref.container,
                start=(at - timedelta(seconds=report.range_seconds)).timestamp(),
                end=at.timestamp(),
                kills=exact,
                approximate_kills=approximate,
                limit_bytes=first.limit_bytes,
                request_bytes=first.request_bytes,
            )
        message = report_message(report, self.render, share_button=not command.share)
        return Reply(message, share=command.share, chart=chart, history=report.history)
