"""One place that turns settings into working parts: the metrics source, the Kubernetes API,
the state store, the chart maker and the outbox's sender.

`podmem run`, every command, the benchmarks and the tests build their parts here, so a part
added or changed (a second destination, a new store) is wired once and the same everywhere.
Each part is made when first asked for: `report` never opens the state store, and a dry run
never builds a sender.
"""

from __future__ import annotations

from functools import cached_property

from kubernetes import client

from bot.delivery.charts import ChartMaker
from bot.delivery.dispatch import Dispatcher
from bot.delivery.painter import Painter
from bot.delivery.senders import build_sender
from bot.kube_client import api_client
from bot.settings import Settings
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from bot.state.open import open_store
from bot.state.store import StateStore


class Parts:
    """The parts for `settings`, each built once, on first use. A store given is used as
    it is (a test's or a benchmark's); otherwise the settings choose it."""

    def __init__(
        self, settings: Settings, *, store: StateStore | None = None, chart_processes: int = 0
    ) -> None:
        self.settings = settings
        self._store = store
        self._chart_processes = chart_processes

    @cached_property
    def source(self) -> PrometheusSource:
        return PrometheusSource(self.settings)

    @cached_property
    def kube_api(self) -> client.ApiClient | None:
        """The Kubernetes API client, or None when it is off or unreachable."""
        return api_client(self.settings)

    @cached_property
    def kubernetes(self) -> KubernetesSource | None:
        """Exact kill times and owners from the API; None: Prometheus-only mode."""
        api = self.kube_api
        return None if api is None else KubernetesSource(self.settings, api)

    @cached_property
    def store(self) -> StateStore:
        return self._store if self._store is not None else open_store(self.settings)

    @cached_property
    def painter(self) -> Painter:
        """Where charts are drawn: worker processes for the bot (`podmem run`), the
        caller's thread for a command that draws a chart or two."""
        return Painter(self._chart_processes)

    @cached_property
    def charts(self) -> ChartMaker:
        return ChartMaker(self.source, self.settings, painter=self.painter)

    @cached_property
    def sender(self) -> Dispatcher:
        """Slack always; a signed webhook sender when a route names a webhook."""
        return build_sender(self.settings, self.charts)


def build(
    settings: Settings, *, store: StateStore | None = None, chart_processes: int = 0
) -> Parts:
    return Parts(settings, store=store, chart_processes=chart_processes)
