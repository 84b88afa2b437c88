"""
Search the freezing depth with GridSearchCV
===========================================

``freeze_depth`` counts MobileNetV2's 19 blocks from the input side: ``0``
fine-tunes all of them, ``19`` (the same as ``"all"``) trains the head only.
``memory`` caches the decoded images and the pretrained backbone's features, so
the frozen phase, the same for every candidate on a fold, is computed once per
fold.  96 px inputs and one unfrozen epoch keep the 2-fold search over 4 depths
to about a minute on 2 CPU cores.

The validation curve is drawn with scikit-learn's ``ValidationCurveDisplay``
from the search's ``cv_results_``.  Its x axis must be numeric, which is why the
depths are integers here: ``"all"`` works in the search but not on that axis.

Run from the repository root: ``python examples/grid_search_freeze_depth.py``.
"""

# %%
import os
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, ValidationCurveDisplay

from skfinetune import FineTuneClassifier, load_image_folder

# the shared photo collections (SKFINETUNE_DATA: where they are elsewhere)
shared = Path(os.environ.get("SKFINETUNE_DATA", "../shared/data"))
root = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "hymenoptera_data"
X, y = load_image_folder(root / "train")

# %%
depths = [0, 10, 15, 19]
with tempfile.TemporaryDirectory() as cache:
    clf = FineTuneClassifier(
        weights="IMAGENET1K_V1",
        image_size=96,
        unfrozen_epochs=1,
        memory=cache,
        random_state=0,
    )
    search = GridSearchCV(clf, {"freeze_depth": depths}, cv=2, return_train_score=True)
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

# %%
# One row per depth, one column per fold, as ``ValidationCurveDisplay`` expects.
folds = range(search.n_splits_)
scores = {
    kind: np.array([results[f"split{k}_{kind}_score"] for k in folds]).T
    for kind in ("train", "test")
}
display = ValidationCurveDisplay(
    param_name="freeze_depth",
    param_range=np.array(depths),
    train_scores=scores["train"],
    test_scores=scores["test"],
    score_name="accuracy",
)
display.plot()
plt.show()
