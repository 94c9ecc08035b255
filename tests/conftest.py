import numpy as np
import pytest

from napari_gmm import make_seed_example, sweep


@pytest.fixture(scope="session")
def seed_X():
    return make_seed_example()


@pytest.fixture(scope="session")
def seed_result(seed_X):
    return sweep(seed_X)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
