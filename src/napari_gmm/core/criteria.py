"""Information criteria and parameter counts, defined as scikit-learn does.

For a mixture of ``K`` Gaussians in ``d`` dimensions fitted to ``n`` samples
with total log-likelihood ``logL``:

* ``p = covariance parameters + K*d (means) + (K - 1) (weights)``, plus one
  for the weight of a noise component if there is one
* ``BIC = -2 logL + p ln n``  (``GaussianMixture.bic``)
* ``AIC = -2 logL + 2 p``     (``GaussianMixture.aic``)
* ``ICL = BIC - 2 sum_i log max_k tau_ik`` (Biernacki et al., 2000, with the
  hard-assignment entropy term); ``tau`` are the responsibilities.

All three are "lower is better".
"""

from __future__ import annotations

import numpy as np

from .parsimonious import (
    MCLUST_TO_SKLEARN,
    MODELS,
    canonical_model,
    n_covariance_parameters,
)

#: scikit-learn's covariance types: a sweep's default candidates.
COVARIANCE_TYPES = ("spherical", "tied", "diag", "full")

#: The name a sweep gives each of the 14 covariance models (its
#: ``covariance_type``), in mclust's order (volume, shape, orientation from
#: equal to variable): scikit-learn's name for the four it has, mclust's
#: three letters for the ten others. Also the order that breaks ties.
MODEL_TYPES = tuple(MCLUST_TO_SKLEARN.get(model, model) for model in MODELS)

#: The value of ``covariance_types`` that sweeps all of :data:`MODEL_TYPES`.
ALL_MODELS = "all"


def candidate_type(name: str) -> str:
    """The sweep's name of a covariance model given by either naming.

    Parameters
    ----------
    name : str
        scikit-learn's "spherical", "tied", "diag", "full" or one of mclust's
        14 three-letter names (any case): "VVV" and "full" are the same model.

    Returns
    -------
    str
        An entry of :data:`MODEL_TYPES`: scikit-learn's name for the four
        shared models, mclust's (upper case) for the others.

    Raises
    ------
    ValueError
        For any other name.
    """
    text = str(name)
    model = canonical_model(text.lower() if text.lower() in COVARIANCE_TYPES else text)
    return MCLUST_TO_SKLEARN.get(model, model)


def model_name(covariance_type: str) -> str:
    """mclust's three-letter name of a sweep's covariance type ("VII" for
    "spherical")."""
    return canonical_model(covariance_type)


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


def n_parameters(
    n_components: int, n_features: int, covariance_type: str, noise: bool = False
) -> int:
    """Number of free parameters of a Gaussian mixture.

    Parameters
    ----------
    n_components : int
        Number of components ``K``.
    n_features : int
        Dimension ``d`` of the data.
    covariance_type : str
        "spherical", "tied", "diag", "full" or one of mclust's 14 model names
        (:data:`napari_gmm.core.parsimonious.MODELS`).
    noise : bool, default=False
        The mixture also has a uniform noise component (its weight is one
        more free parameter; its volume is fixed), see :mod:`.noise`.

    Returns
    -------
    int
        Covariance parameters + ``K*d`` means + ``K - 1`` free weights
        (``K`` with a noise component).
    """
    if covariance_type in _COVARIANCE_PARAMETERS:
        covariance = _COVARIANCE_PARAMETERS[covariance_type](n_components, n_features)
    else:
        covariance = n_covariance_parameters(covariance_type, n_components, n_features)
    weights = n_components if noise else n_components - 1
    return int(covariance + n_components * n_features + weights)


def has_noise(model) -> bool:
    """Whether a fitted mixture has a uniform noise component (see :mod:`.noise`)."""
    return hasattr(model, "noise_weight_")


def model_n_parameters(model) -> int:
    """Free parameters of a fitted mixture, the noise weight included if any.

    A :class:`~napari_gmm.core.parsimonious_em.ParsimoniousGaussianMixture`
    stores full covariances; its ``covariance_model`` decides the count.
    """
    n_components, n_features = np.shape(model.means_)
    kind = getattr(model, "covariance_model", None) or model.covariance_type
    return n_parameters(n_components, n_features, kind, noise=has_noise(model))


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


#: Kass & Raftery (1995) grades of evidence for a BIC difference, on the
#: 2 ln(Bayes factor) scale that ΔBIC approximates: (upper bound, words).
EVIDENCE_GRADES = (
    (2.0, "weak"),
    (6.0, "positive"),
    (10.0, "strong"),
    (np.inf, "very strong"),
)


def evidence(delta: float) -> str:
    """Words for a criterion difference (Kass & Raftery, 1995).

    These grades are for BIC (and ICL, a BIC with an entropy term): their
    difference approximates ``2 ln`` of a Bayes factor. They do not apply to
    AIC or to the cross-validation criterion, see :data:`GRADED_CRITERIA`.

    ``delta`` is how much higher (worse) the alternative's criterion is:
    below 2 "weak", 2-6 "positive", 6-10 "strong", above 10 "very strong".
    """
    delta = float(delta)
    if not np.isfinite(delta):
        return "very strong" if delta > 0 else "undefined"
    for bound, words in EVIDENCE_GRADES:
        if abs(delta) < bound:
            return words
    return "very strong"  # pragma: no cover - the last bound is infinite


#: Criteria whose differences the Kass & Raftery grades describe.
GRADED_CRITERIA = ("bic", "icl")


def range_edge_note(best_k: int, tried) -> str:
    """A sentence when the chosen K is at an edge of the range tried, else "".

    A choice at the largest K tried (or at the smallest, when that is above
    1) may only mean that the range stopped there: the criterion might keep
    improving beyond it.

    Parameters
    ----------
    best_k : int
        The chosen number of components.
    tried : iterable of int
        The numbers of components of the sweep.
    """
    ks = sorted(set(int(k) for k in tried))
    if len(ks) < 2:
        return ""
    if best_k == ks[-1]:
        return (
            f"The choice, K={best_k}, is the largest number of components tried: "
            f"more might fit better; widen the range (e.g. up to K={best_k + 3}) "
            "to check."
        )
    if best_k == ks[0] and best_k > 1:
        lower = max(1, best_k - 3)
        return (
            f"The choice, K={best_k}, is the smallest number of components tried: "
            f"fewer might fit better; widen the range (e.g. from K={lower}) "
            "to check."
        )
    return ""
