"""
Search the freezing depth with GridSearchCV
===========================================

``freeze_depth`` counts MobileNetV2's 19 blocks from the input side: ``0``
fine-tunes all of them, ``"all"`` trains the head only.  ``memory`` caches the
decoded images and the pretrained backbone's features, so the frozen phase, the
same for every candidate on a fold, is computed once per fold.  96 px inputs keep
the 3-fold search over 4 depths to a few minutes on 2 CPU cores.

Run from the repository root: ``python examples/grid_search_freeze_depth.py``.
"""

# %%
import sys
import tempfile
from pathlib import Path

from sklearn.model_selection import GridSearchCV

from skfinetune import FineTuneClassifier, load_image_folder

root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/hymenoptera_data")
X, y = load_image_folder(root / "train")

# %%
with tempfile.TemporaryDirectory() as cache:
    clf = FineTuneClassifier(
        weights="IMAGENET1K_V1",
        image_size=96,
        unfrozen_epochs=2,
        memory=cache,
        random_state=0,
    )
    search = GridSearchCV(clf, {"freeze_depth": [0, 10, 15, "all"]}, cv=3)
    search.fit(X, y)

# %%
results = search.cv_results_
print("freeze_depth  mean_test_score  std_test_score  mean_fit_time")
for i, params in enumerate(results["params"]):
    print(
        f"{params['freeze_depth']!s:>12}  {results['mean_test_score'][i]:15.4f}"
        f"  {results['std_test_score'][i]:14.4f}  {results['mean_fit_time'][i]:12.1f}s"
    )
print("best:", search.best_params_)
