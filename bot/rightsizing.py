"""Right-sizing: requests far above what a container uses, limits below what it needs.

Pure: profiles (p95 and peak working set over days) and the current figures in, findings out.
Requests are compared with the p95 (what the scheduler should reserve), limits with the peak
(what the kernel must allow), each with headroom, as VPA does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.analysis import Assessment
from bot.model import ContainerRef, Profile
from bot.oom import MIN_BUMP_AFTER_OOM_BYTES
from bot.units import MIB


@dataclass(frozen=True, slots=True)
class Finding:
    ref: ContainerRef
    kind: str  # "over_provisioned_request" or "limit_below_peak"
    current_bytes: int
    suggested_bytes: int
    p95_bytes: int
    peak_bytes: int

    @property
    def freed_bytes(self) -> int:
        return max(0, self.current_bytes - self.suggested_bytes)


def _round_up_mib(value: float) -> int:
    return math.ceil(value / MIB) * MIB


def right_size(
    assessments: Iterable[Assessment],
    profiles: Mapping[ContainerRef, Profile],
    *,
    headroom: float,
    min_freed_bytes: int,
    oom_killed: frozenset[ContainerRef] = frozenset(),
) -> list[Finding]:
    findings: list[Finding] = []
    for a in assessments:
        m = a.memory
        profile = profiles.get(m.ref)
        if profile is None:
            continue
        if m.request_bytes:
            wanted = _round_up_mib(profile.p95_bytes * (1 + headroom))
            if m.request_bytes - wanted >= min_freed_bytes:
                findings.append(
                    Finding(
                        m.ref,
                        "over_provisioned_request",
                        m.request_bytes,
                        wanted,
                        profile.p95_bytes,
                        profile.peak_bytes,
                    )
                )
        if m.limit_bytes:
            needed = profile.peak_bytes * (1 + headroom)
            if m.ref in oom_killed:
                needed = max(needed, m.limit_bytes + MIN_BUMP_AFTER_OOM_BYTES)
            if m.limit_bytes < needed:
                findings.append(
                    Finding(
                        m.ref,
                        "limit_below_peak",
                        m.limit_bytes,
                        _round_up_mib(needed),
                        profile.p95_bytes,
                        profile.peak_bytes,
                    )
                )
    return sorted(findings, key=lambda f: (f.kind, -abs(f.current_bytes - f.suggested_bytes)))
