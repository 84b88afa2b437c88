"""scikit-learn's own estimator checks, on a tiny configuration."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skfinetune import FineTuneClassifier

#: Tiny but learning configuration: a backbone without BatchNorm, random
#: initialisation (no download), 32 px inputs, a few epochs with Adam.
TINY = dict(
    backbone="squeezenet1_1",
    weights=None,
    image_size=32,
    hidden_layer_sizes=(64,),
    frozen_epochs=5,
    unfrozen_epochs=5,
    unfrozen_optimizer="adam",
    unfrozen_learning_rate=1e-3,
    random_state=0,
)

EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    [FineTuneClassifier(**TINY)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
