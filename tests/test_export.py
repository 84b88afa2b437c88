"""_export: the one description an estimator hands to persistence, ONNX, the
command line and the displays; views of its network share no mutable state."""

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from skfinetune import FineTuneClassifier, FineTuneRegressor, PretrainedFeatures
from skfinetune._export import ExportDescription, ExportInput

from _tiny import TINY, TINY_BACKBONE, make_brightness, make_images

PACKAGE = Path(__file__).resolve().parents[1] / "skfinetune"


@pytest.fixture(scope="module")
def fitted():
    X, y = make_images(6, 24)
    return FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, y), X


def test_the_description_says_what_an_exported_graph_needs(fitted):
    clf, X = fitted
    description = clf.__skfinetune_export__()
    assert isinstance(description, ExportDescription)
    assert description.estimator == "FineTuneClassifier"
    assert description.backbone == "'squeezenet1_1'"  # as messages quote it
    assert description.classes == ["bottom", "top"]
    assert description.input == ExportInput(37, 32, *_normalisation(clf), 3)
    assert description.params == clf.get_params(deep=False)
    assert "classes_" in description.fitted and "module_" not in description.fitted
    outputs = description.outputs(torch.zeros(2, 2))
    assert set(outputs) == {"probabilities", "label_index"}
    tensors = description.tensors()
    assert tensors.keys() == clf.module_.state_dict().keys()
    assert all(t.device.type == "cpu" for t in tensors.values())
    assert len(description.read(X)) == len(X)


def _normalisation(estimator):
    data = estimator.__skfinetune_export__().input
    return data.mean, data.std


def test_a_view_converted_for_export_leaves_the_estimator_as_it_is(fitted):
    """``to_onnx`` converts its view to float32 on the CPU: the estimator's own
    network keeps its parameters, their objects and their precision."""
    clf, X = fitted
    expected = clf.predict_proba(X)
    before = {k: (id(p), p.dtype) for k, p in clf.module_.named_parameters()}
    view = clf.__skfinetune_export__().network().to(torch.float64)
    assert all(p.dtype == torch.float64 for p in view.parameters())
    after = {k: (id(p), p.dtype) for k, p in clf.module_.named_parameters()}
    assert after == before
    np.testing.assert_array_equal(clf.predict_proba(X), expected)


def test_rows_cannot_be_exported_and_the_description_says_why():
    X, y = make_brightness(12, 8)
    rows = X[..., 0].reshape(len(X), -1).astype(float)
    reg = FineTuneRegressor(**dict(TINY, frozen_epochs=1, unfrozen_epochs=0))
    description = reg.fit(rows, y).__skfinetune_export__()
    assert description.input is None
    assert "fitted on 2-D rows" in description.input_error


def test_an_unfitted_estimator_describes_its_parameters_only():
    description = PretrainedFeatures(**TINY_BACKBONE).__skfinetune_export__()
    assert description.fitted == {} and description.tensors() == {}
    assert description.input is None and description.input_error is None


@pytest.mark.parametrize("module", ["_persistence", "_onnx", "_cli", "_display"])
def test_export_modules_read_no_private_attribute_of_an_estimator(module):
    """They go through the description (and public names) alone."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    private = sorted(
        f"{node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in ("estimator", "clf", "model", "cls")
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    )
    assert private == []
