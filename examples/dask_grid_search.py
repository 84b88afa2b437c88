"""
A grid search on a Dask cluster
===============================

``GridSearchCV`` runs its fits through joblib, and joblib's ``"dask"`` backend
sends them to the workers of a Dask cluster.  Here a ``LocalCluster`` of two
worker processes stands in for a real cluster.  What matters:

* **Parameters travel, not networks**: each candidate is sent as the
  estimator's parameters; the backbone is given by name, so every worker builds
  it from its own torchvision weights cache.
* **Threads per worker**: Dask starts workers with ``OMP_NUM_THREADS=1``, and each
  fit stays within its worker's torch threads (``client.run(torch.set_num_threads,
  k)`` gives each worker ``k``).
* **The ``memory`` cache** must be a path every worker sees (a shared file system
  on a real cluster), so that the decoded images and frozen features computed for
  one candidate serve the others.

Tiny settings (64 px, one unfrozen epoch, 2 folds) keep it to about a minute on
2 CPU cores.  See the user guide's "Dask" section for GPU workers.
"""

# %%
import os
import sys
import tempfile
from pathlib import Path

import joblib
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV

from skfinetune import FineTuneClassifier, load_image_folder

# the shared photo collections (SKFINETUNE_DATA: where they are elsewhere)
shared = Path(os.environ.get("SKFINETUNE_DATA", "../shared/data"))
root = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "hymenoptera_data"
X, y = load_image_folder(root / "train")

# %%
if __name__ == "__main__":  # worker processes re-import this script
    cache = tempfile.mkdtemp(prefix="skfinetune-cache-")  # shared by the workers
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        clf = FineTuneClassifier(
            "mobilenet_v2",
            weights="IMAGENET1K_V1",
            image_size=64,
            unfrozen_epochs=1,
            memory=cache,
            random_state=0,
        )
        search = GridSearchCV(clf, {"freeze_depth": [0, 15, "all"]}, cv=2)
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
    for params, score in zip(
        search.cv_results_["params"],
        search.cv_results_["mean_test_score"],
        strict=True,
    ):
        print(f"freeze_depth={params['freeze_depth']!s:>4}: {score:.4f}")
    print("best:", search.best_params_)
