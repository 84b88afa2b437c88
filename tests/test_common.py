"""scikit-learn's own estimator checks, on tiny configurations of every estimator
(and of one timm backbone, where timm is installed)."""

import importlib.util

from sklearn.utils.estimator_checks import parametrize_with_checks

from skfinetune import FineTuneClassifier, FineTuneRegressor, PretrainedFeatures

from _tiny import TINY, TINY_BACKBONE

ESTIMATORS = [
    FineTuneClassifier(**TINY),
    # the classifier's default phase 1 (the probe) and phase-2 rule; one penalty
    # (alpha="auto" cross-validates ten: tests/test_probe.py covers it)
    FineTuneClassifier(**TINY_BACKBONE, alpha=1.0),
    FineTuneRegressor(**TINY),
    PretrainedFeatures(**TINY_BACKBONE),
]
if importlib.util.find_spec("timm") is not None:
    ESTIMATORS.append(
        FineTuneClassifier(
            **dict(
                TINY, backbone="timm/convnext_atto", frozen_epochs=2, unfrozen_epochs=1
            )
        )
    )

#: Checks expected to fail, per estimator class, each with its reason.
EXPECTED_FAILED_CHECKS = {
    FineTuneRegressor: {
        "check_regressors_train": (
            "needs R2 > 0.5 on make_regression's 10 tabular features with one "
            "informative: rows become a 1x10 strip of pixels for a randomly "
            "initialised CNN, which reaches R2 0.35-0.40 (an image model, not a "
            "tabular one; image targets are tested in test_regressor.py)"
        ),
        "check_methods_subset_invariance": (
            "compares predict on one sample with predict on 20 at rtol=1e-7: float32 "
            "convolutions pick kernels by batch shape, so outputs differ in the 7th "
            "digit (3e-7 relative here); whether a value crosses the tolerance "
            "depends on the fitted weights"
        ),
    },
    PretrainedFeatures: {
        "check_methods_subset_invariance": (
            "compares transform on one sample with transform on 20 at rtol=1e-4: "
            "float32 convolutions pick kernels by batch shape, so features differ "
            "by up to ~2e-6 in absolute terms, which is a large relative error on "
            "near-zero ReLU outputs (test_features.py checks batches agree to 1e-5)"
        ),
    },
}


@parametrize_with_checks(
    ESTIMATORS,
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est), {}),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
