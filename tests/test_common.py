"""scikit-learn's own estimator checks, on a tiny configuration."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skfinetune import FineTuneClassifier

from _tiny import TINY

EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    [FineTuneClassifier(**TINY)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
