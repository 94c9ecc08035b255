import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from napari_gmm.core.criteria import information_criteria, n_parameters


@pytest.mark.parametrize("covariance_type", ["spherical", "tied", "diag", "full"])
@pytest.mark.parametrize(("n_components", "n_features"), [(1, 1), (3, 2), (4, 5)])
def test_parameter_count_matches_sklearn(covariance_type, n_components, n_features):
    X = np.random.default_rng(0).normal(size=(50, n_features))
    model = GaussianMixture(n_components, covariance_type=covariance_type).fit(X)
    assert n_parameters(n_components, n_features, covariance_type) == (
        model._n_parameters()
    )


def test_criteria_formulas():
    scores = information_criteria(-100.0, 5, 1000, -3.0)
    assert scores["bic"] == pytest.approx(200 + 5 * np.log(1000))
    assert scores["aic"] == pytest.approx(210.0)
    assert scores["icl"] == pytest.approx(scores["bic"] + 6.0)
