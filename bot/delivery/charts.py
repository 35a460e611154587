"""Drawing a queued chart at delivery time: one range query, one PNG."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.model import ContainerRef, OomKill
from bot.promql import Scope
from bot.render.charts import memory_chart
from bot.settings import Settings
from bot.sources.base import MemorySource, SourceError
from bot.state.document import ChartRequest

log = logging.getLogger(__name__)


class ChartMaker:
    def __init__(self, source: MemorySource, settings: Settings) -> None:
        self.source, self.settings = source, settings

    def __call__(self, request: ChartRequest) -> bytes | None:
        """The PNG, or None when the history cannot be read now (the upload is retried)."""
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
