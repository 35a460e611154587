"""Messages for the memory kills that are not a container's own OOM kill: an eviction, and a
worker process killed inside a container that lived on. Short: what happened, where, why."""

from __future__ import annotations

from bot.kills import ProcessOomAlert
from bot.notices import Evicted
from bot.render.messages import where
from bot.render.slack import Message, context, header, section
from bot.units import format_bytes, format_ratio


def evicted_message(alert: Evicted) -> Message:
    p = alert.pod
    name = f"{p.namespace}/{p.pod}" + (f" ({p.cluster})" if p.cluster else "")
    used = format_bytes(alert.last_working_set_bytes) if alert.last_working_set_bytes else "unknown"
    pressure = (
        f"node {alert.node} was under memory pressure"
        if alert.memory_pressure
        else f"node {alert.node or 'unknown'} (its memory condition is not exported)"
    )
    body = (
        f"The kubelet evicted {name}: {pressure}, and it chose this pod (it used {used}; pods "
        "above their memory request go first). Its replacement is scheduled elsewhere; the "
        "fix is on the node: requests that match usage, or fewer pods on it."
    )
    text = f":warning: *EVICTED* · {name}\n{body}"
    parts = [f"node {alert.node}" if alert.node else "", alert.workload or ""]
    return Message(
        text,
        (header(f"⚠️ EVICTED · {name}"), section(body), context(*[x for x in parts if x])),
    )


def process_oom_message(alert: ProcessOomAlert) -> Message:
    a = alert.assessment
    m = a.memory
    count = "A process was" if alert.events == 1 else f"{alert.events} processes were"
    body = (
        f"{count} OOM-killed inside {where(m.ref)}, and the container lived on (no restart): "
        "a worker of a pre-fork server (gunicorn, nginx, postgres) hit the limit and was "
        f"replaced. Working set {format_bytes(m.working_set_bytes)}, "
        f"{format_ratio(a.working_set_to_limit)} of the {format_bytes(m.limit_bytes)} limit. "
        "Requests in flight on that worker failed; fewer workers or a higher limit is the fix."
    )
    text = f":boom: *PROCESS OOM* · {where(m.ref)}\n{body}"
    return Message(text, (header(f"💥 PROCESS OOM · {where(m.ref)}"), section(body)))
