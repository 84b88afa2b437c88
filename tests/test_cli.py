"""_cli: python -m skfinetune fit / predict / evaluate."""

import csv
import io
import re
import subprocess
import sys

import numpy as np
import pytest

import skfinetune
from skfinetune._cli import main

TINY_SET = [
    "--set", "backbone=squeezenet1_1", "--set", "weights=None",
    "--set", "image_size=32", "--set", "frozen_epochs=5",
    "--set", "unfrozen_epochs=1", "--set", "hidden_layer_sizes=(64,)",
    "--set", "random_state=0", "--set", "frozen_optimizer=adam",
]  # fmt: skip


@pytest.fixture(scope="module")
def model_file(image_folder, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "model.safetensors"
    main(["fit", str(image_folder), "-o", str(path), "--quiet", *TINY_SET])
    return path


def test_fit_writes_a_model_with_the_set_parameters(model_file, image_folder):
    clf = skfinetune.load(model_file)
    assert clf.get_params()["backbone"] == "squeezenet1_1"
    assert clf.hidden_layer_sizes == (64,) and clf.weights is None
    assert sorted(clf.classes_) == ["bottom", "top"]
    assert clf.frozen_epochs == 5 and clf.random_state == 0
    assert len(clf.history_) == 5 + 1  # the epochs set on the command line


def test_predict_files_and_folders_in_input_order(model_file, image_folder, capsys):
    X, _ = skfinetune.load_image_folder(image_folder)
    clf = skfinetune.load(model_file)
    first = str(X[-1])
    main(["predict", str(model_file), first, str(image_folder), "--proba"])
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["path", "label", "bottom", "top"]
    assert [r[0] for r in rows[1:]] == [first, *map(str, X)]
    paths = [r[0] for r in rows[1:]]
    np.testing.assert_array_equal([r[1] for r in rows[1:]], clf.predict(paths))
    np.testing.assert_allclose(
        np.array([r[2:] for r in rows[1:]], dtype=float),
        clf.predict_proba(paths),
        rtol=1e-5,
    )


def test_predict_streams_in_chunks_to_a_file(
    model_file, image_folder, tmp_path, monkeypatch
):
    import skfinetune._cli as cli

    monkeypatch.setattr(cli, "CHUNK", 5)
    sizes = []
    predict = type(skfinetune.load(model_file)).predict_proba

    def counting(self, X):
        sizes.append(len(X))
        return predict(self, X)

    monkeypatch.setattr(skfinetune.FineTuneClassifier, "predict_proba", counting)
    out = tmp_path / "predictions.csv"
    main(["predict", str(model_file), str(image_folder), "-o", str(out)])
    rows = list(csv.reader(out.open()))
    assert len(rows) == 1 + 24 and rows[0] == ["path", "label"]
    assert sizes == [5, 5, 5, 5, 4]  # never more than a chunk in memory


def test_evaluate_prints_accuracy_report_and_matrix(model_file, image_folder, capsys):
    main(["evaluate", str(model_file), str(image_folder)])
    out = capsys.readouterr().out
    accuracy = float(re.search(r"accuracy: ([0-9.]+)", out).group(1))
    X, y = skfinetune.load_image_folder(image_folder)
    expected = skfinetune.load(model_file).score(X, y)
    assert "images: 24" in out and accuracy == pytest.approx(expected, abs=1e-4)
    assert "precision" in out and "confusion matrix" in out
    last = out.rstrip().splitlines()[-1].split()
    assert last[0] == "top" and sum(map(int, last[1:])) == 12  # its 12 images


def test_regressor_from_folders_named_by_target(tmp_path, capsys):
    from PIL import Image

    from _tiny import make_brightness

    X, level = make_brightness(n=16)
    for i, (array, value) in enumerate(zip(X, np.round(level * 2) / 2, strict=True)):
        (tmp_path / "data" / str(value)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(tmp_path / "data" / str(value) / f"{i}.png")
    model = tmp_path / "reg.safetensors"
    argv = ["fit", str(tmp_path / "data"), "-o", str(model), "--quiet"]
    main([*argv, "--estimator", "regressor", *TINY_SET])
    main(["predict", str(model), str(tmp_path / "data")])
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["path", "prediction"] and len(rows) == 17
    main(["evaluate", str(model), str(tmp_path / "data")])
    assert "R2:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit", "{folder}", "-o", "m", "--set", "nope=1"], "has no parameter 'nope'"),
        (["fit", "{folder}", "-o", "m", "--set", "frozen_epochs=abc"], "frozen_ep"),
        (["fit", "{folder}", "-o", "m", "--set", "backbone=resnet9"], "Unknown back"),
        (["fit", "{folder}", "-o", "m", "--set", "frozen_epochs"], "PARAM=VALUE"),
        (["fit", "{folder}/missing", "-o", "m"], "does not exist"),
        (["fit", "{folder}", "-o", "m", "--estimator", "regressor"], "named by"),
        (["predict", "{folder}/top", "{folder}"], "does not exist"),
        (["predict", "{image}", "{folder}"], "not a complete skfinetune model"),
        (["predict", "{model}", "{folder}/nothing.jpg"], "does not exist"),
        (["evaluate", "{model}", "{other}"], "not fitted on: ['left']"),
        (["predict", "{model}", "{image}", "--device", "cuda:7"], "no CUDA GPU"),
        (["fit", "{folder}", "-o", "m", "--device", "tpu"], "--device: device="),
    ],
)
def test_bad_input_exits_2_with_one_line(
    argv, message, model_file, image_folder, tmp_path, capsys
):
    other = tmp_path / "other"
    (other / "left").mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (8, 8)).save(other / "left" / "a.png")
    image = next(image_folder.glob("top/*"))
    values = dict(folder=image_folder, model=model_file, image=image, other=other)
    with pytest.raises(SystemExit) as info:
        main([a.format(**values) for a in argv])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]


def test_device_auto_predicts_where_the_machine_computes_best(
    model_file, image_folder, capsys
):
    """``--device`` (default ``auto``) is the estimator's ``device`` for the
    command; ``cpu`` gives the same rows as the default here."""
    image = str(next(image_folder.glob("top/*")))
    main(["predict", str(model_file), image, "--proba"])
    default = capsys.readouterr().out
    main(["predict", str(model_file), image, "--proba", "--device", "cpu"])
    assert capsys.readouterr().out == default


def test_module_entry_point_and_help():
    run = [sys.executable, "-m", "skfinetune"]
    done = subprocess.run(
        [*run, "predict", "--help"], capture_output=True, text=True, check=True
    )
    assert "python -m skfinetune predict model.safetensors" in done.stdout
    bad = subprocess.run(
        [*run, "evaluate", "no.safetensors", "."], capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def _fails_before_fitting(monkeypatch):
    """Any fit from here on is a test failure: the error must come first."""
    from skfinetune import FineTuneClassifier

    def no_fit(self, X, y):
        raise AssertionError("fitted although the output cannot be written")

    monkeypatch.setattr(FineTuneClassifier, "fit", no_fit)


@pytest.mark.parametrize("where", ["missing/dir/model.safetensors", "."])
def test_fit_checks_its_output_before_training(
    image_folder, tmp_path, monkeypatch, capsys, where
):
    _fails_before_fitting(monkeypatch)
    output = tmp_path / where
    with pytest.raises(SystemExit) as info:
        main(["fit", str(image_folder), "-o", str(output), "--quiet", *TINY_SET])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("does not exist" in err[0] or "is a folder" in err[0])


def test_a_fit_whose_save_fails_is_rescued(image_folder, tmp_path, monkeypatch, capsys):
    """The model file cannot be written after training (the folder went away,
    the disk filled): the fit is saved under a rescue name, said in one line."""
    import skfinetune._persistence as persistence

    save = persistence.save
    target = tmp_path / "model.safetensors"

    def failing(estimator, path):
        if str(path) == str(target):
            raise OSError(28, "No space left on device")
        return save(estimator, path)

    monkeypatch.setattr(persistence, "save", failing)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["fit", str(image_folder), "-o", str(target), "--quiet", *TINY_SET])
    assert info.value.code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert "No space left on device" in line and "saved to" in line
    rescued = re.search(r"saved to '([^']+)'", line).group(1)
    assert skfinetune.load(rescued).classes_.tolist() == ["bottom", "top"]


def test_predict_keeps_the_old_output_when_it_fails(
    model_file, image_folder, tmp_path, capsys
):
    """``-o old.csv`` and a bad image among the paths: the old file is intact
    (rows go to a temporary file, renamed only when every row is written)."""
    old = tmp_path / "old.csv"
    old.write_text("path,label\nearlier.jpg,top\n")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    good = str(next(image_folder.glob("top/*")))
    with pytest.raises(SystemExit) as info:
        main(["predict", str(model_file), good, str(bad), "-o", str(old)])
    assert info.value.code == 2
    assert old.read_text() == "path,label\nearlier.jpg,top\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jpg", "old.csv"]
    main(["predict", str(model_file), good, "-o", str(old)])
    assert old.read_text().splitlines()[0] == "path,label"
    assert good in old.read_text()


def test_predict_to_a_missing_folder_says_so_before_predicting(
    model_file, image_folder, tmp_path, capsys
):
    image = str(next(image_folder.glob("top/*")))
    with pytest.raises(SystemExit) as info:
        main(["predict", str(model_file), image, "-o", str(tmp_path / "no" / "x.csv")])
    assert info.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line(model_file, image_folder, monkeypatch, capsys):
    from skfinetune import FineTuneClassifier

    def broken(self, X):
        raise RuntimeError("something deep inside\nwith a second line")

    monkeypatch.setattr(FineTuneClassifier, "predict_proba", broken)
    image = str(next(image_folder.glob("top/*")))
    with pytest.raises(SystemExit) as info:
        main(["predict", str(model_file), image])
    assert info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["skfinetune predict: error: something deep inside"]


def test_predict_skip_bad_reports_unreadable_files_and_carries_on(
    model_file, image_folder, tmp_path, capsys
):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    good = [str(p) for p in sorted(image_folder.glob("top/*"))[:2]]
    out = tmp_path / "out.csv"
    main(["predict", str(model_file), good[0], str(bad), good[1], "-o", str(out),
          "--skip-bad", "--proba"])  # fmt: skip
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0] == ["path", "label", "bottom", "top", "error"]
    assert [r[0] for r in rows[1:]] == [good[0], str(bad), good[1]]
    assert rows[2][1:4] == ["", "", ""] and "bad.jpg" in rows[2][4]
    assert rows[1][4] == rows[3][4] == "" and rows[1][1] in ("top", "bottom")
    assert "skipped 1 unreadable file" in capsys.readouterr().err
