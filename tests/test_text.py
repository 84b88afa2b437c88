"""The text estimators, on a tiny random BERT written to a folder (no download):
scikit-learn's API, the recipe on texts, bad input, persistence, ONNX, the
command line and Dask."""

import csv
import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks

from skfinetune import (
    FineTuneTextClassifier,
    FineTuneTextRegressor,
    PretrainedTextFeatures,
    load,
    onnx_input,
    save,
    to_onnx,
)

pytest.importorskip("transformers")
from _tiny_text import TINY_TEXT, make_texts, tiny_encoder_folder  # noqa: E402

ENCODER = tiny_encoder_folder()


def _estimators():
    return [
        FineTuneTextClassifier(ENCODER, **TINY_TEXT),
        FineTuneTextRegressor(ENCODER, **TINY_TEXT),
        PretrainedTextFeatures(ENCODER, weights=None, random_state=0, device="cpu"),
    ]


@pytest.fixture(scope="module")
def texts():
    return make_texts()


@pytest.fixture(scope="module")
def fitted(texts):
    X, y = texts
    return FineTuneTextClassifier(ENCODER, **TINY_TEXT).fit(X, y)


def _fit(estimator, X, y):
    if isinstance(estimator, FineTuneTextRegressor):
        return estimator.fit(X, (y == "card").astype(float))
    return estimator.fit(X, y)


def _outputs(estimator, X):
    if isinstance(estimator, PretrainedTextFeatures):
        return estimator.transform(X)
    if isinstance(estimator, FineTuneTextClassifier):
        return estimator.predict_proba(X)
    return estimator.predict(X)


# ------------------------------------------------------------ scikit-learn's API
#: scikit-learn's checks that take no numeric X (its other checks feed 2-D
#: numbers, which a text estimator refuses, as TfidfVectorizer does: the tags
#: say string input, and the checks below cover the same ground on texts).
API_CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_mixin_order",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
]


@pytest.mark.parametrize("check", API_CHECKS)
@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_sklearn_api_checks(estimator, check):
    getattr(estimator_checks, check)(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_tags_say_strings(estimator):
    tags = estimator.__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_fit_returns_self_is_repeatable_and_leaves_params(estimator, texts):
    X, y = texts
    params = clone(estimator).get_params()
    first = _fit(estimator, X, y)
    assert first is estimator
    out = _outputs(estimator, X)
    assert clone(estimator).get_params().keys() == params.keys()
    assert all(
        estimator.get_params()[k] is params[k] or estimator.get_params()[k] == params[k]
        for k in params
    )
    again = _outputs(_fit(clone(estimator), X, y), X)
    np.testing.assert_allclose(again, out, rtol=1e-5, atol=1e-6)
    # a subset, a reordering and a single text give the same rows
    np.testing.assert_allclose(_outputs(estimator, X[5:9]), out[5:9], atol=1e-5)
    np.testing.assert_allclose(_outputs(estimator, X[::-1]), out[::-1], atol=1e-5)
    np.testing.assert_allclose(_outputs(estimator, [X[3]]), out[3:4], atol=1e-5)


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_unfitted_raises_not_fitted(estimator, texts):
    with pytest.raises(NotFittedError):
        _outputs(estimator, texts[0])


def test_classifier_learns_and_reports(fitted, texts):
    X, y = texts
    assert fitted.score(X, y) >= 0.9
    assert list(fitted.classes_) == ["card", "refund"]
    assert fitted.n_backbone_blocks_ == 3  # the embeddings and 2 layers
    assert fitted.max_length_ == 64  # the tokenizer's model_max_length
    assert [h["phase"] for h in fitted.history_] == ["frozen", "unfrozen"]
    assert fitted.predict_proba(X).shape == (len(X), 2)


def test_pandas_missing_values_are_missing_texts(fitted):
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match="missing text"):
        fitted.predict(pd.Series(["fine", pd.NA], dtype="string"))


def test_every_kind_of_x(fitted, texts):
    pd = pytest.importorskip("pandas")
    X, _ = texts
    expected = fitted.predict_proba(X)
    for kind in (
        tuple(X),
        np.array(X),
        np.array(X, dtype=object)[:, None],
        pd.Series(X),
        pd.DataFrame({"text": X}),
    ):
        np.testing.assert_allclose(fitted.predict_proba(kind), expected, atol=1e-6)


def test_multilabel_class_weight_and_regression_targets(texts):
    X, y = texts
    Y = np.stack([y == "card", np.arange(len(y)) % 2 == 0], 1).astype(int)
    clf = FineTuneTextClassifier(ENCODER, **TINY_TEXT).fit(X, Y)
    assert clf.predict(X).shape == Y.shape and clf.out_activation_ == "logistic"
    weighted = FineTuneTextClassifier(ENCODER, **TINY_TEXT, class_weight="balanced")
    assert weighted.fit(X, y).score(X, y) >= 0.9
    targets = np.stack([(y == "card") * 2.0, np.arange(len(y))], 1)
    reg = FineTuneTextRegressor(ENCODER, **TINY_TEXT).fit(X, targets)
    assert reg.predict(X).shape == targets.shape


def test_default_recipe_decides_phase_2_by_evidence(texts):
    X, y = texts
    clf = FineTuneTextClassifier(ENCODER, weights=None, random_state=0, device="cpu")
    clf.fit(X, y)
    # the probe errs on fewer than 5 held-out texts: no trial, no phase 2
    assert clf.unfrozen_epochs_ == 0 and clf.probe_score_ is not None
    assert {h["phase"] for h in clf.history_} == {"frozen"}


def test_pooling_and_max_length(texts):
    X, y = texts
    long_text = [" ".join(["card"] * 200)]
    cls = PretrainedTextFeatures(ENCODER, weights=None, pooling="cls", max_length=8)
    mean = PretrainedTextFeatures(ENCODER, weights=None, pooling="mean")
    a, b = cls.fit(X).transform(X), mean.fit(X).transform(X)
    assert cls.max_length_ == 8 and not np.allclose(a, b)
    assert cls.transform(long_text).shape == (1, 16)  # truncated, not refused
    with pytest.raises(ValueError, match="max_length=100 is longer than"):
        PretrainedTextFeatures(ENCODER, weights=None, max_length=100).fit(X)


def test_model_object_with_its_tokenizer(texts):
    from transformers import AutoModel, AutoTokenizer

    X, y = texts
    model = AutoModel.from_pretrained(ENCODER)
    tokenizer = AutoTokenizer.from_pretrained(ENCODER)
    features = PretrainedTextFeatures(model, tokenizer=tokenizer).fit(X)
    by_folder = PretrainedTextFeatures(ENCODER).fit(X)
    np.testing.assert_allclose(features.transform(X), by_folder.transform(X), atol=1e-6)
    clone(features)  # shares the module: no copy of its weights
    with pytest.raises(ValueError, match="pass its tokenizer too"):
        PretrainedTextFeatures(model).fit(X)
    with pytest.raises(TypeError, match="save_pretrained"):
        save(features, "unused.safetensors")


def test_a_tokenizer_class_another_version_wrote(texts, tmp_path):
    """A folder whose tokenizer_config.json names a class the installed
    transformers lacks is read from its tokenizer.json."""
    import json
    import shutil

    X, _ = texts
    folder = tmp_path / "encoder"
    shutil.copytree(ENCODER, folder)
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    settings["tokenizer_class"] = "NoSuchTokenizerFast"
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    ours = PretrainedTextFeatures(str(folder)).fit(X)
    assert ours.max_length_ == 64
    np.testing.assert_allclose(
        ours.transform(X), PretrainedTextFeatures(ENCODER).fit(X).transform(X)
    )


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "X, error, match",
    [
        ("one text", TypeError, "not a single string"),
        (["fine", 3], TypeError, "position 1 is a number"),
        (["fine", None], ValueError, "missing text"),
        (["fine", float("nan")], ValueError, "missing text"),
        (["fine", "  "], ValueError, "empty text"),
        ([], ValueError, "0 sample"),
        (np.zeros((3, 2)), ValueError, "1-D sequence of texts"),
    ],
)
def test_bad_texts_are_clear_errors(fitted, X, error, match):
    with pytest.raises(error, match=match):
        fitted.predict(X)


def test_bad_fit_input_keeps_the_fitted_model(fitted, texts):
    X, y = texts
    before = fitted.predict_proba(X)
    with pytest.raises(ValueError, match="only one class"):
        clone(fitted).fit(X, ["card"] * len(X))
    with pytest.raises(ValueError, match="missing text"):
        fitted.fit([*X[:-1], None], y)
    np.testing.assert_array_equal(fitted.predict_proba(X), before)


def test_bad_parameters_are_clear_errors(texts, tmp_path):
    X, y = texts
    with pytest.raises(ValueError, match="pooling"):
        FineTuneTextClassifier(ENCODER, pooling="max").fit(X, y)
    with pytest.raises(ValueError, match="weights"):
        FineTuneTextClassifier(ENCODER, weights="IMAGENET1K_V1").fit(X, y)
    with pytest.raises(ValueError, match="does not exist"):
        FineTuneTextClassifier(str(tmp_path / "missing")).fit(X, y)


def test_missing_transformers_says_how_to_install(monkeypatch, texts):
    import builtins

    real_import = builtins.__import__

    def no_transformers(name, *args, **kwargs):
        if name == "transformers":
            raise ImportError("No module named 'transformers'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_transformers)
    with pytest.raises(ImportError, match=r"skfinetune\[text\]"):
        PretrainedTextFeatures(ENCODER).fit(texts[0])


# --------------------------------------------------------------- persistence
def test_pickle_joblib_save_load_and_skops(fitted, texts, tmp_path):
    X, _ = texts
    expected = fitted.predict_proba(X)
    for copy in (
        pickle.loads(pickle.dumps(fitted)),
        joblib.load(joblib.dump(fitted, tmp_path / "m.joblib")[0]),
        load(save(fitted, tmp_path / "m.safetensors")),
    ):
        np.testing.assert_allclose(copy.predict_proba(X), expected, atol=1e-6)
    sio = pytest.importorskip("skops.io")
    dumped = sio.dumps(fitted)
    restored = sio.loads(dumped, trusted=sio.get_untrusted_types(data=dumped))
    np.testing.assert_allclose(restored.predict_proba(X), expected, atol=1e-6)


def test_a_saved_model_loads_without_its_folder(fitted, texts, tmp_path):
    X, _ = texts
    path = save(fitted, tmp_path / "m.safetensors")
    moved = clone(fitted).set_params(backbone=str(tmp_path / "gone"))
    assert moved.backbone != fitted.backbone
    loaded = load(path)  # the tokenizer and configuration are in the file
    np.testing.assert_allclose(
        loaded.predict_proba(X), fitted.predict_proba(X), atol=1e-6
    )
    assert loaded.max_length_ == fitted.max_length_


def test_a_file_with_a_bad_tokenizer_is_refused(fitted, tmp_path):
    from skfinetune._text.family import TEXTS

    values = fitted._input.to_dict()
    for change, match in (
        ({"tokenizer": "{not json"}, "tokenizers cannot read"),
        ({"pooling": "max"}, "pooling"),
        ({"config": {"model_type": "bert", "num_hidden_layers": 10**9}}, "config"),
        ({"max_length": 0}, "max_length"),
    ):
        with pytest.raises(ValueError, match=match):
            TEXTS.input_from_dict({**values, **change}, size=fitted.max_length_)


# ----------------------------------------------------------------------- onnx
def test_onnx_matches_predict_proba(fitted, texts, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    X, _ = texts
    X = [*X, " ".join(["refund"] * 100)]  # truncated to max_length_ alike
    path = to_onnx(fitted, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    inputs = onnx_input(X, path)
    assert set(inputs) == {"input_ids", "attention_mask"}
    probabilities, label_index = session.run(None, inputs)
    assert np.abs(probabilities - fitted.predict_proba(X)).max() <= 1e-4
    np.testing.assert_array_equal(fitted.classes_[label_index], fitted.predict(X))


def test_onnx_of_features_and_regressor(texts, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    X, y = texts
    features = PretrainedTextFeatures(ENCODER, weights=None, random_state=0).fit(X)
    reg = FineTuneTextRegressor(ENCODER, **TINY_TEXT).fit(X, (y == "card") * 1.0)
    for estimator, expected in (
        (features, features.transform(X)),
        (reg, reg.predict(X)[:, None]),
    ):
        path = to_onnx(estimator, tmp_path / "e.onnx")
        out = onnxruntime.InferenceSession(path).run(None, onnx_input(X, path))[0]
        assert np.abs(out - expected).max() <= 1e-4


# -------------------------------------------------------------- sklearn tools
def test_pipeline_grid_search_and_cross_validation(texts):
    X, y = texts
    probe = make_pipeline(
        PretrainedTextFeatures(ENCODER, weights=None, random_state=0),
        LogisticRegression(C=100),
    )
    # held-out accuracy needs more texts than the fixture's 24
    many_X, many_y = make_texts(n_per_class=40)
    assert cross_val_score(probe, np.array(many_X), many_y, cv=2).mean() >= 0.7
    search = GridSearchCV(
        FineTuneTextClassifier(ENCODER, **TINY_TEXT),
        {"pooling": ["mean", "cls"]},
        cv=2,
    ).fit(X, y)
    assert search.best_params_["pooling"] in ("mean", "cls")


def test_dask_search(texts):
    pytest.importorskip("dask.distributed")
    from dask.distributed import Client, LocalCluster

    X, y = texts
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster,
        Client(cluster),
        joblib.parallel_backend("dask"),
    ):
        search = GridSearchCV(
            FineTuneTextClassifier(ENCODER, **TINY_TEXT),
            {"max_length": [8, 16]},
            cv=2,
            n_jobs=2,
        ).fit(X, y)
    assert search.best_estimator_.max_length_ in (8, 16)


def test_progress_and_early_stopping(texts, capsys):
    X, y = texts
    clf = FineTuneTextClassifier(
        ENCODER, **{**TINY_TEXT, "unfrozen_epochs": 3}, early_stopping=True, verbose=1
    ).fit(X, y)
    out = capsys.readouterr().out
    assert "[   probe]" in out and "valid_acc=" in out and "texts/s" in out
    assert "img/s" not in out
    assert all("valid_acc" in h for h in clf.history_)


# --------------------------------------------------------------- command line
def test_command_line_from_csv_to_predictions(texts, tmp_path, capsys):
    from skfinetune._cli import main

    X, y = texts
    data = tmp_path / "tickets.csv"
    with open(data, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query", "intent"])
        writer.writerows(zip(X, y, strict=True))
    model = tmp_path / "m.safetensors"
    columns = ["--text-column", "query"]
    main(
        ["fit", str(data), "-o", str(model), *columns, "--target-column", "intent"]
        + ["--quiet", "--set", f"backbone={ENCODER}", "--set", "weights=None"]
        + ["--set", "random_state=0", "--device", "cpu"]
    )
    out = tmp_path / "predictions.csv"
    main(["predict", str(model), str(data), *columns, "-o", str(out), "--proba"])
    rows = list(csv.DictReader(open(out)))
    assert [r["query"] for r in rows] == X
    np.testing.assert_allclose(
        [[float(r["card"]), float(r["refund"])] for r in rows],
        load(model).predict_proba(X),
        atol=1e-5,
    )
    capsys.readouterr()
    main(["evaluate", str(model), str(data), *columns, "--target-column", "intent"])
    assert "texts: 24" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(data), "-o", str(model), "--text-column", "body"])
    assert exit_info.value.code == 2
    assert "no column 'body'" in capsys.readouterr().err
