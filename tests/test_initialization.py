"""Ward (agglomerative) starts shared by all candidates."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from napari_gmm import make_seed_example, sweep
from napari_gmm.core.initialization import ward_initializations


def test_ward_sweep_reproduces_the_seed_choice():
    result = sweep(make_seed_example(), init_params="ward")
    assert result.best_key == (2, "full")
    assert result.best.n_init == 1


def test_ward_starts_are_one_tree_for_every_type():
    X = make_seed_example()
    candidates = [(k, t) for t in ("spherical", "full") for k in (2, 3)]
    starts = ward_initializations(X, candidates, 1e-6, random_state=0)
    for k in (2, 3):
        np.testing.assert_array_equal(
            starts[(k, "spherical")]["means_init"], starts[(k, "full")]["means_init"]
        )
    # a start from the two Ward clusters of this data is already the answer
    start = starts[(2, "full")]
    model = GaussianMixture(2, covariance_type="full", **start).fit(X)
    labels = model.predict(X)
    assert len(set(labels[:500])) == 1 and len(set(labels[500:])) == 1


def test_ward_with_weights_and_bad_init_name():
    X = make_seed_example()[:200]
    result = sweep(
        X, weights=np.full(200, 3.0), init_params="ward", n_components=[1, 2]
    )
    assert np.isfinite(result.table["bic"]).all()
    with pytest.raises(ValueError, match="init_params must be one of"):
        sweep(X, init_params="agglo")
