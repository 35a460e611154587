"""Python's cyclic garbage collector, paused while a PromQL answer is read and boiled down.

A 100 000-container check parses about 300 000 lists and dicts per cycle (rows, [time,
"value"] pairs) that live only until their answer is reduced to {key: value}. Each
collection they live through traverses them again, and each full one traverses the whole
heap too: measured with gc.callbacks, a third of a steady cycle's CPU went to collections
that could free nothing, since parsed JSON holds no reference cycles. Reference counting
frees an answer the moment it is dropped; the collector resumes once no answer is being read.

Paused by counting holders, as answers are read side by side in the query threads: the
collector comes back when the last one is done, and only if it was running before the first.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_resume = False


@contextmanager
def paused_collection() -> Iterator[None]:
    global _holders, _resume  # noqa: PLW0603 - one collector per process, one count of its pausers
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _resume:
                gc.enable()
