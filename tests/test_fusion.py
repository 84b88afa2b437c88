"""_fusion: convolution + inference-mode BatchNorm folded into one
convolution, in a view that shares the network's tensors and never changes it."""

import copy
import threading

import torch
import torchvision
from torch import nn

from skfinetune._fusion import (
    FoldedConvBN,
    FrozenConvBN,
    fold,
    folded,
    shallow_copy,
)


def _model():
    model = torchvision.models.mobilenet_v3_small(weights=None)
    model.train()
    with torch.no_grad():  # give the BatchNorms non-trivial statistics
        for _ in range(3):
            model(torch.randn(4, 3, 64, 64))
    return model.eval()


def _n_folded(module):
    return sum(isinstance(m, (FoldedConvBN, FrozenConvBN)) for m in module.modules())


def test_folded_view_computes_the_same_and_leaves_the_network_alone():
    model = _model()
    structure = [type(m) for m in model.modules()]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        view = folded(model)
        assert _n_folded(view) == 34
        out = view(x)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    assert [type(m) for m in model.modules()] == structure
    assert {id(p) for p in view.parameters()} == {id(p) for p in model.parameters()}


def test_gradients_reach_conv_and_batchnorm_parameters():
    model = _model()
    twin = copy.deepcopy(model)
    x = torch.randn(2, 3, 64, 64)
    model(x).sum().backward()
    folded(twin, keep_modes=True)(x).sum().backward()
    for (name, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-4, msg=name)
    torch.testing.assert_close(  # running statistics untouched
        twin.features[0][1].running_mean, model.features[0][1].running_mean
    )


def test_batchnorm_in_training_mode_is_not_folded_and_updates_the_original():
    block = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    block.train()
    view = fold(shallow_copy(block))
    assert _n_folded(view) == 0
    view(torch.randn(2, 3, 5, 5))
    assert block[1].num_batches_tracked == 1  # shared buffers
    assert not torch.equal(block[1].running_mean, torch.zeros(4))
    eval_view = folded(block)
    assert isinstance(eval_view[0], FrozenConvBN)  # folded once: inference
    assert isinstance(eval_view[1], nn.Identity)
    assert isinstance(block[0], nn.Conv2d) and isinstance(block[1], nn.BatchNorm2d)
    assert block.training and not eval_view.training


def test_threads_each_use_their_own_view():
    model = _model()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    results = []

    def run():
        with torch.no_grad():
            results.append(folded(model)(x))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    for out in results:
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def test_an_inference_view_folds_once_not_at_every_forward(monkeypatch):
    """Folding costs a multiply over every convolution weight: an inference view
    pays it once, when made; a training view at each forward (its weights move)."""
    import skfinetune._fusion as fusion

    calls = []
    original = fusion._folded_weights

    def counted(conv, bn):
        calls.append(1)
        return original(conv, bn)

    monkeypatch.setattr(fusion, "_folded_weights", counted)
    model = _model()
    x = torch.randn(2, 3, 32, 32)
    view = folded(model)
    made = len(calls)
    assert made == _n_folded(view) == 34
    with torch.inference_mode():
        first = view(x)
        torch.testing.assert_close(view(x), first)
    assert len(calls) == made  # no folding at the forwards
    torch.testing.assert_close(first, model(x), rtol=1e-4, atol=1e-4)
    training = fold(shallow_copy(model))  # BatchNorm in inference mode, live fold
    calls.clear()
    training(x)
    assert len(calls) == 34
