"""Drawing a queued chart at delivery time: one range query, one PNG."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from bot.analysis import Thresholds, assess
from bot.errors import SourceError
from bot.model import ContainerMemory, ContainerRef, OomKill
from bot.promql import Scope
from bot.render.charts import digest_chart, memory_chart
from bot.settings import Settings
from bot.sources.base import MemorySource
from bot.state.document import Bar, ChartRequest

log = logging.getLogger(__name__)


class ChartMaker:
    """Draws what a ChartRequest asks for: a container's memory, or the digest's bars."""

    def __init__(self, source: MemorySource, settings: Settings) -> None:
        self.source, self.settings = source, settings

    def __call__(self, request: ChartRequest) -> bytes | None:
        """The PNG, or None when the history cannot be read now (the upload is retried)."""
        if request.bars is not None:
            return self.digest(request.bars)
        ref = ContainerRef(request.cluster, request.namespace, request.pod, request.container)
        start = datetime.fromtimestamp(request.start, tz=UTC)
        end = datetime.fromtimestamp(request.end, tz=UTC)
        try:
            history = self.source.history(Scope(request.namespace, request.pod), start, end)
        except SourceError as error:
            log.warning("chart for %s not drawn yet: %s", ref.pod_name, error)
            return None
        kills = [OomKill(ref, 0, datetime.fromtimestamp(t, tz=UTC)) for t in request.kills]
        return memory_chart(
            history,
            ref,
            limit_bytes=request.limit_bytes,
            request_bytes=request.request_bytes,
            kills=kills,
            timezone=self.settings.timezone,
        )

    def digest(self, bars: list[Bar]) -> bytes:
        base = Thresholds.from_settings(self.settings)
        assessments = [
            assess(
                ContainerMemory(
                    ContainerRef(b.cluster, b.namespace, b.pod, b.container),
                    working_set_bytes=b.working_set_bytes,
                    usage_bytes=b.usage_bytes,
                    limit_bytes=b.limit_bytes,
                ),
                replace(
                    base,
                    warning_ratio=b.warning_ratio or base.warning_ratio,
                    critical_ratio=b.critical_ratio or base.critical_ratio,
                ),
            )
            for b in bars
        ]
        return digest_chart(
            assessments,
            warning_ratio=self.settings.warning_ratio,
            critical_ratio=self.settings.critical_ratio,
            top=len(bars),
        )
