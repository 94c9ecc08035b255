"""Plain words for the covariance models (napari_gmm._terms)."""

from napari_gmm._terms import covariance_name, model_name


def test_the_ten_other_models_are_named_in_plain_words():
    assert covariance_name("EEV") == "same size and shape, orientations vary"
    assert covariance_name("EII") == "round, same size"
    assert covariance_name("VEI") == "axis-aligned, same shape, sizes vary"
    assert model_name(3, "VVE", "clusters") == (
        "3 clusters, same orientation, sizes and shapes vary (VVE)"
    )
    # scikit-learn's four keep their words; other strings pass through
    assert covariance_name("full") == "any shape"
    assert covariance_name("XYZ") == "XYZ"
