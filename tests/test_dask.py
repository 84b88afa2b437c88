"""A grid search over ``freeze_depth`` on a Dask ``LocalCluster`` (worker
processes) through joblib's ``"dask"`` backend, as the user guide shows it."""

import os

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skfinetune import FineTuneClassifier

from _tiny import TINY

distributed = pytest.importorskip("distributed")


def _pid(estimator, X, y):
    return float(os.getpid())


def _threads(estimator, X, y):
    return float(max(h["threads"] for h in estimator.history_))


@pytest.fixture(scope="module")
def client():
    # SKFINETUNE_NUM_THREADS (pinned by conftest for bit-for-bit tests) is unset
    # in the workers, so that they choose their threads as on a user's cluster
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env={"SKFINETUNE_NUM_THREADS": ""},
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


def test_grid_search_over_freeze_depth_on_a_local_cluster(
    client, image_arrays, tmp_path
):
    X, y = image_arrays
    cache = tmp_path / "features"  # a path every worker sees (here: one machine)
    search = GridSearchCV(
        FineTuneClassifier(**dict(TINY, memory=str(cache))),
        {"freeze_depth": [0, 6, "all"]},
        cv=2,
        scoring={"accuracy": "accuracy", "pid": _pid, "threads": _threads},
        refit="accuracy",
    )
    with joblib.parallel_backend("dask"):
        search.fit(X, y)
    results = search.cv_results_
    assert list(results["param_freeze_depth"]) == [0, 6, "all"]
    # every fold was fitted in a worker process, not here
    worker_pids = set(client.run(os.getpid).values())
    fold_pids = {results[f"split{i}_test_pid"][c] for i in range(2) for c in range(3)}
    assert fold_pids <= {float(p) for p in worker_pids}
    assert float(os.getpid()) not in fold_pids
    # each fit stayed within its worker's torch threads (1 here: Dask starts its
    # workers with OMP_NUM_THREADS=1)
    import torch

    budget = max(client.run(torch.get_num_threads).values())
    assert np.all(results["mean_test_threads"] <= budget)
    assert np.all(results["mean_test_accuracy"] >= 0.5)
    assert any(cache.rglob("*")), "the workers wrote the shared feature cache"
    assert search.best_estimator_.predict(X[:2]).shape == (2,)


def test_workers_take_more_torch_threads_when_given(client, image_arrays):
    import torch

    X, y = image_arrays
    client.run(torch.set_num_threads, 2)
    try:
        future = client.submit(
            lambda: (
                FineTuneClassifier(**dict(TINY, unfrozen_epochs=1)).fit(X, y).history_
            ),
            pure=False,
        )
        history = future.result()
    finally:
        client.run(torch.set_num_threads, 1)
    # at most the 2 threads given, fewer when the other CPU is busy
    assert 1 <= max(h["threads"] for h in history) <= 2
