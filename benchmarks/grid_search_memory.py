"""GridSearchCV with and without ``memory`` (hymenoptera, MobileNetV2, 224 px).

Two searches, 4 candidates x 3 folds each, run with and without a feature cache:

* head parameters with ``unfrozen_epochs=0`` (every fit is the frozen phase only);
* ``freeze_depth`` with the default 3 + 3 epochs (the frozen phase and the decoded
  images are shared, the unfrozen phase is not).

Prints wall seconds and the ratio with/without.  About 15 minutes on 2 CPU cores.

Run from the repository root: ``python benchmarks/grid_search_memory.py [DATA_DIR]``.
"""

import sys
import tempfile
import time
from pathlib import Path

from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skfinetune import FineTuneClassifier, load_image_folder

root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/hymenoptera_data")
X, y = load_image_folder(root / "train")
cv = StratifiedKFold(3, shuffle=True, random_state=0)
searches = {
    "head (unfrozen_epochs=0)": (
        dict(unfrozen_epochs=0, frozen_epochs=5),
        {"hidden_layer_sizes": [(256,), (1024,)], "dropout": [0.2, 0.5]},
    ),
    "freeze_depth (3+3 epochs)": (
        dict(),
        {"freeze_depth": [0, 10, 15, "all"]},
    ),
}
only = sys.argv[2] if len(sys.argv) > 2 else None
for name, (params, grid) in searches.items():
    if only and only not in name:
        continue
    seconds = {}
    for use_memory in (False, True):
        with tempfile.TemporaryDirectory() as cache:
            clf = FineTuneClassifier(
                weights="IMAGENET1K_V1",
                random_state=0,
                memory=cache if use_memory else None,
                **params,
            )
            search = GridSearchCV(clf, grid, cv=cv)
            start = time.perf_counter()
            search.fit(X, y)
            seconds[use_memory] = time.perf_counter() - start
            scores = search.cv_results_["mean_test_score"]
            print(
                f"{name}, memory={use_memory}: {seconds[use_memory]:.1f} s, "
                f"mean_test_score {[round(s, 4) for s in scores]}",
                flush=True,
            )
    print(
        f"{name}: with memory / without = {seconds[True] / seconds[False]:.2f}x\n",
        flush=True,
    )
