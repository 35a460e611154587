"""Node-level series: kube-state-metrics' MemoryPressure condition and node-exporter's memory,
for the nodes a cluster spec says ran short (a kill from the node, not the limit)."""

from __future__ import annotations

from collections.abc import Iterator

from bot.scenarios.cluster import ClusterSpec


def node_lines(cluster: ClusterSpec) -> Iterator[str]:
    if not cluster.node_pressure:
        return
    start, times = cluster.start.timestamp(), cluster.scrape_times
    common = "".join(f'{k}="{v}",' for k, v in cluster.extra_labels.items())
    for spell in cluster.node_pressure:
        inside = [spell.start <= t - start < spell.end for t in times]
        condition = (
            f'{common}job="kube-state-metrics",node="{spell.node}",condition="MemoryPressure"'
        )
        exporter = f'{common}job="node-exporter",instance="{spell.node}"'
        for status in ("true", "false"):
            name = f'kube_node_status_condition{{{condition},status="{status}"}}'
            for t, short in zip(times, inside, strict=True):
                yield f"{name} {int(short == (status == 'true'))} {t:.0f}\n"
        for t, short in zip(times, inside, strict=True):
            free = spell.available_low_bytes if short else spell.available_bytes
            yield f"node_memory_MemAvailable_bytes{{{exporter}}} {free:.0f} {t:.0f}\n"
        for t in times:
            yield f"node_memory_MemTotal_bytes{{{exporter}}} {spell.total_bytes:.0f} {t:.0f}\n"
