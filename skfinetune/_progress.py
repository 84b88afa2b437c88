"""Signs of life inside an epoch: a progress bar, or plain lines.

With ``verbose >= 1`` an epoch over images shows its progress while it runs: a
``tqdm`` bar (``tqdm.auto``) when tqdm is installed (``pip install
tqdm``) and the output is a terminal or a notebook, with images/s
and the time left; otherwise (no tqdm, or output to a file or a pipe, where a bar's
redrawing would interleave with the epoch lines) a plain line every ``interval``
seconds once the epoch has run that long, so short epochs print nothing but their
summary line.  Nothing at ``verbose=0``.
"""

import sys
import time

try:  # optional dependency
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover - depends on the environment
    tqdm = None


def _interactive():
    """Whether progress goes to a person: a terminal, or a notebook's kernel."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


class EpochProgress:
    """Progress of one pass over ``total`` images; ``update(n)`` after each batch.

    Parameters
    ----------
    verbose : int
        Nothing happens at 0.
    label : str
        What the pass is, e.g. ``"[unfrozen] epoch 2/3"``.
    total : int
        Images in the pass.
    interval : float, default=10.0
        Seconds between plain lines (without tqdm).
    bar : bool or None, default=None
        Use tqdm (``None``: when it is installed and the output is interactive).
    units : (str, str), default=("images", "img")
        What the items are called, in full and per second.
    """

    def __init__(
        self, verbose, label, total, interval=10.0, bar=None, units=("images", "img")
    ):
        self.verbose = verbose
        self.items, self.unit = units
        self.label = label
        self.total = total
        self.interval = interval
        self.done = 0
        self.start = time.perf_counter()
        self._last = self.start
        self._bar = None
        if bar is None:
            bar = tqdm is not None and _interactive()
        if verbose and bar:
            self._bar = tqdm(
                total=total, desc=label, unit=self.unit, leave=False, file=sys.stderr
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, n):
        if not self.verbose:
            return
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last < self.interval:
            return
        self._last = now
        rate = self.done / (now - self.start)
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        print(
            f"{self.label}  {self.done}/{self.total} {self.items}  "
            f"{rate:.1f} {self.unit}/s  "
            f"~{left:.0f} s left",
            flush=True,
        )

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
