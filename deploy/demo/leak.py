"""The seed's two experiments, for a real cluster: leak memory at a set rate, optionally while
writing a file so the page cache grows too. Standard library only; prints its progress.

Environment (KiB = 1024 bytes):
  RATE_KIB_PER_SECOND       memory allocated per second (default 160)
  HOLD                      true: keep every allocation, the leak (default); false: let each
                            go after its tick, so the working set stays flat
  LEAK_AFTER_SECONDS        start allocating only after this many seconds (default 0)
  WRITE_FILE                true: also append to FILE_PATH and fsync it (default false)
  FILE_RATE_KIB_PER_SECOND  bytes written per second (default 1024)
  FILE_PATH                 the file (default /data/file); truncated at start
  TICK_SECONDS              how often to allocate and write (default 1)
  PRINT_EVERY_SECONDS       how often to print a progress line (default 10)
  STOP_AFTER_SECONDS        exit 0 after this many seconds (default: never; the kernel decides)
"""

from __future__ import annotations

import os
import signal
import sys
import time

KIB = 1024


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        sys.exit(f"leak: {name}={raw!r} is not a number")
    if value < 0:
        sys.exit(f"leak: {name}={raw!r} must not be negative")
    return value


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    sys.exit(f"leak: {name}={raw!r} is not true or false")


def rss_kib() -> int:
    """Resident memory of this process, as the kernel counts it (Linux only; 0 elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    rate = _number("RATE_KIB_PER_SECOND", 160)
    hold = _flag("HOLD", True)
    leak_after = _number("LEAK_AFTER_SECONDS", 0)
    write_file = _flag("WRITE_FILE", False)
    file_rate = _number("FILE_RATE_KIB_PER_SECOND", 1024)
    file_path = os.environ.get("FILE_PATH", "/data/file")
    tick = _number("TICK_SECONDS", 1) or 1
    print_every = _number("PRINT_EVERY_SECONDS", 10)
    stop_after = _number("STOP_AFTER_SECONDS", 0) or None

    # As PID 1 in a container, SIGTERM's default action is ignored by the kernel: without a
    # handler, `kubectl delete` would wait out the whole grace period.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    print(
        f"leak: start pid={os.getpid()} rate={rate:g}KiB/s hold={hold} "
        f"leak_after={leak_after:g}s write_file={write_file} "
        f"file_rate={file_rate:g}KiB/s file={file_path if write_file else '-'} "
        f"stop_after={stop_after or 'never'} rss={rss_kib()}KiB",
        flush=True,
    )
    target = open(file_path, "wb") if write_file else None  # noqa: SIM115 -- lives until exit
    held: list[bytes] = []
    allocated = written = 0  # KiB
    start = time.monotonic()
    next_print = print_every

    while True:
        elapsed = time.monotonic() - start
        done = stop_after is not None and elapsed >= stop_after
        now = min(elapsed, stop_after) if stop_after is not None else elapsed
        # Catch up to what the rate says by now, so the totals follow the clock exactly
        # however late a tick wakes.
        due = int(rate * max(0.0, now - leak_after)) - allocated
        if due > 0:
            # Filled with a non-zero byte: zero-filled memory can stay unbacked until touched,
            # and only pages really in RAM count toward the working set.
            chunk = b"\xa5" * (due * KIB)
            if hold:
                held.append(chunk)
            del chunk
            allocated += due
        if target is not None:
            due = int(file_rate * now) - written
            if due > 0:
                target.write(b"\x5a" * (due * KIB))
                target.flush()
                # Clean, written-back pages: the cache the kernel may drop before any OOM kill.
                os.fsync(target.fileno())
                written += due
        if done or (print_every and elapsed >= next_print):
            print(
                f"leak: t={now:.1f}s allocated={allocated}KiB "
                f"held={allocated if hold else 0}KiB written={written}KiB rss={rss_kib()}KiB",
                flush=True,
            )
            while print_every and next_print <= elapsed:
                next_print += print_every
        if done:
            print(f"leak: stopping after {stop_after:g}s, as STOP_AFTER_SECONDS says", flush=True)
            if target is not None:
                target.close()
            return 0
        time.sleep(min(tick, stop_after - elapsed) if stop_after is not None else tick)


if __name__ == "__main__":
    sys.exit(main())
