"""_progress: signs of life inside an epoch."""

import pytest

from skfinetune import FineTuneClassifier
from skfinetune._progress import EpochProgress

from _tiny import TINY


def test_plain_lines_with_rate_and_time_left(capsys):
    with EpochProgress(1, "[unfrozen] epoch 1/3", 100, interval=0, bar=False) as p:
        p.update(40)
        p.update(40)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[unfrozen] epoch 1/3  40/100 images")
    assert "img/s" in lines[1] and "s left" in lines[1]


def test_silent_at_verbose_zero_and_for_short_epochs(capsys):
    with EpochProgress(0, "x", 10, interval=0, bar=False) as p:
        p.update(5)
    with EpochProgress(1, "x", 10, interval=60, bar=False) as p:
        p.update(5)
    assert capsys.readouterr().out == ""


def test_tqdm_bar(capsys):
    pytest.importorskip("tqdm")
    with EpochProgress(1, "[frozen] epoch 1/1", 10, bar=True) as p:
        p.update(10)
    err = capsys.readouterr().err
    assert "[frozen] epoch 1/1" in err and "/10 [" in err and "img/s" in err


def test_verbose_fit_shows_progress_inside_epochs(image_arrays, capsys, monkeypatch):
    import skfinetune._progress as progress

    monkeypatch.setattr(progress, "tqdm", None)  # plain lines
    defaults = EpochProgress.__init__.__defaults__
    monkeypatch.setattr(EpochProgress.__init__, "__defaults__", (0.0, *defaults[1:]))
    X, y = image_arrays
    params = dict(TINY, frozen_epochs=1, unfrozen_epochs=1, batch_size=8, verbose=1)
    FineTuneClassifier(**params).fit(X, y)
    out = capsys.readouterr().out
    assert "[unfrozen] epoch   1/1  8/24 images" in out
    assert "features  24/24 images" in out  # the frozen backbone's one pass


def test_no_bar_where_the_output_is_a_file(monkeypatch, capsys):
    """With tqdm installed but the output going to a log file (not a terminal or
    a notebook), progress is plain lines: a bar's redrawing would interleave with
    the epoch lines there."""
    import io
    import sys

    pytest.importorskip("tqdm")
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    with EpochProgress(1, "[unfrozen] epoch 1/3", 100, interval=0) as progress:
        assert progress._bar is None
        progress.update(50)
    assert log.getvalue() == ""  # no bar drawn
    assert "50/100 images" in capsys.readouterr().out

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    with EpochProgress(1, "x", 10) as progress:
        assert progress._bar is not None
