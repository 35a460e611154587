"""Right-sizing: requests far above what a container uses, limits below what it needs.

Pure: profiles (p95 and peak working set over days) and the current figures in, findings out.
Requests are compared with the p95 (what the scheduler should reserve), limits with the peak
(what the kernel must allow), each with headroom, as VPA does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.model import ContainerMemory, ContainerRef, Profile
from bot.oom import MIN_BUMP_AFTER_OOM_BYTES
from bot.units import round_up_quantity


@dataclass(frozen=True, slots=True)
class Finding:
    ref: ContainerRef  # the first replica's container; `workload` names them all
    kind: str  # "over_provisioned_request" or "limit_below_peak"
    current_bytes: int
    suggested_bytes: int
    p95_bytes: int
    peak_bytes: int
    workload: str | None = None
    replicas: int = 1

    @property
    def freed_bytes(self) -> int:
        return max(0, self.current_bytes - self.suggested_bytes) * self.replicas


def right_size(
    containers: Iterable[ContainerMemory],
    profiles: Mapping[ContainerRef, Profile],
    *,
    headroom: float,
    min_freed_bytes: int,
    oom_killed: frozenset[ContainerRef] = frozenset(),
    node_killed: frozenset[ContainerRef] = frozenset(),
) -> list[Finding]:
    """One finding per workload and container, across its replicas: they share one spec, so
    the peak and p95 to size it by are the highest any replica reached. `oom_killed` were
    killed at their limit (the suggestion bumps it, as VPA does); `node_killed` were killed by
    their node, where a bigger limit cannot help, so no limit is suggested for them."""
    groups: dict[tuple[str, str, str, str], list[ContainerMemory]] = {}
    # By name: "the first replica" is the same whichever order the containers came in.
    for m in sorted(containers, key=lambda m: m.ref):
        r = m.ref
        if r in profiles:
            owner = m.workload or f"pod/{r.pod}"
            groups.setdefault((r.cluster, r.namespace, owner, r.container), []).append(m)
    findings: list[Finding] = []
    for members in groups.values():
        m = members[0]
        refs = [member.ref for member in members]
        p95 = max(profiles[ref].p95_bytes for ref in refs)
        peak = max(profiles[ref].peak_bytes for ref in refs)
        workload, count = m.workload, len(members)
        if m.request_bytes:
            wanted = round_up_quantity(p95 * (1 + headroom))
            if m.request_bytes - wanted >= min_freed_bytes:
                findings.append(
                    Finding(
                        m.ref,
                        "over_provisioned_request",
                        m.request_bytes,
                        wanted,
                        p95,
                        peak,
                        workload,
                        count,
                    )
                )
        if m.limit_bytes and not node_killed.intersection(refs):
            needed = peak * (1 + headroom)
            if oom_killed.intersection(refs):
                needed = max(needed, m.limit_bytes + MIN_BUMP_AFTER_OOM_BYTES)
            if m.limit_bytes < needed:
                findings.append(
                    Finding(
                        m.ref,
                        "limit_below_peak",
                        m.limit_bytes,
                        round_up_quantity(needed),
                        p95,
                        peak,
                        workload,
                        count,
                    )
                )
    return sorted(findings, key=lambda f: (f.kind, -abs(f.current_bytes - f.suggested_bytes)))
