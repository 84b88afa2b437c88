"""Helpers shared by the benchmarks: timing, peak memory sampling, printing."""

import os
import threading
import time
from contextlib import contextmanager

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes():
    """Resident set size of this process, now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return 0


@contextmanager
def measure(result, interval=0.02):
    """Wall seconds and peak RSS (sampled every ``interval`` s) into ``result``."""
    peak = [rss_bytes()]
    done = threading.Event()

    def sample():
        while not done.wait(interval):
            peak[0] = max(peak[0], rss_bytes())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - start
        done.set()
        thread.join()
        result["peak_rss_mib"] = max(peak[0], rss_bytes()) / 2**20


def print_table(rows, columns):
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        cells = [
            _fmt(row.get(c)).rjust(w) for c, w in zip(columns, widths, strict=True)
        ]
        print("  ".join(cells))


def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)
