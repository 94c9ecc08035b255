"""Information criteria and parameter counts, defined as scikit-learn does.

For a mixture of ``K`` Gaussians in ``d`` dimensions fitted to ``n`` samples
with total log-likelihood ``logL``:

* ``p = covariance parameters + K*d (means) + (K - 1) (weights)``
* ``BIC = -2 logL + p ln n``  (``GaussianMixture.bic``)
* ``AIC = -2 logL + 2 p``     (``GaussianMixture.aic``)
* ``ICL = BIC - 2 sum_i log max_k tau_ik`` (Biernacki et al., 2000, with the
  hard-assignment entropy term); ``tau`` are the responsibilities.

All three are "lower is better".
"""

from __future__ import annotations

import numpy as np

COVARIANCE_TYPES = ("spherical", "tied", "diag", "full")
CRITERIA = ("bic", "aic", "icl")


def _spherical_covariance_parameters(n_components: int, n_features: int) -> int:
    return n_components


def _tied_covariance_parameters(n_components: int, n_features: int) -> int:
    return n_features * (n_features + 1) // 2


def _diag_covariance_parameters(n_components: int, n_features: int) -> int:
    return n_components * n_features


def _full_covariance_parameters(n_components: int, n_features: int) -> int:
    return n_components * n_features * (n_features + 1) // 2


_COVARIANCE_PARAMETERS = {
    "spherical": _spherical_covariance_parameters,
    "tied": _tied_covariance_parameters,
    "diag": _diag_covariance_parameters,
    "full": _full_covariance_parameters,
}


def n_parameters(n_components: int, n_features: int, covariance_type: str) -> int:
    """Number of free parameters of a Gaussian mixture.

    Parameters
    ----------
    n_components : int
        Number of components ``K``.
    n_features : int
        Dimension ``d`` of the data.
    covariance_type : {"spherical", "tied", "diag", "full"}

    Returns
    -------
    int
        Covariance parameters + ``K*d`` means + ``K - 1`` free weights.
    """
    covariance = _COVARIANCE_PARAMETERS[covariance_type](n_components, n_features)
    return int(covariance + n_components * n_features + n_components - 1)


def information_criteria(
    log_likelihood: float,
    n_params: int,
    n_samples: float,
    sum_log_max_responsibility: float,
) -> dict[str, float]:
    """BIC, AIC and ICL of one fitted candidate.

    Parameters
    ----------
    log_likelihood : float
        Total log-likelihood ``sum_i log p(x_i)`` (not the per-sample mean).
    n_params : int
        Free parameters, see :func:`n_parameters`.
    n_samples : float
        Number of samples (the total weight for weighted data).
    sum_log_max_responsibility : float
        ``sum_i log max_k tau_ik`` (<= 0).

    Returns
    -------
    dict
        ``{"bic": ..., "aic": ..., "icl": ...}``.
    """
    bic = -2.0 * log_likelihood + n_params * np.log(n_samples)
    return {
        "bic": float(bic),
        "aic": float(-2.0 * log_likelihood + 2.0 * n_params),
        "icl": float(bic - 2.0 * sum_log_max_responsibility),
    }
