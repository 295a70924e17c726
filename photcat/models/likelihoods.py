"""Every likelihood photcat's networks are trained with, in one place.

A network outputs *raw* distribution parameters (an unconstrained vector per object); this
module says how raw outputs map to a distribution and gives its negative log-likelihood (NLL):

- ``normal``:    raw ``(loc, s)``            -> Normal(loc, softplus(s) + SCALE_FLOOR)
- ``mixture``:   raw ``(logits_K, loc_K, s_K)`` -> sum_k softmax(logits)_k Normal(loc_k, softplus(s_k) + SCALE_FLOOR)
- ``bernoulli``: raw ``(logit,)``            -> Bernoulli(sigmoid(logit)); NLL = binary cross-entropy
- ``categorical``: raw ``(logits_K,)``       -> Categorical(softmax(logits)); NLL = cross-entropy

The Keras losses (``*_nll``) build ``tfp.distributions`` objects, so TensorFlow and TFP are
imported inside the functions only. The numpy twins (``*_params``) give the identical mapping
for the fast numpy forward pass used at prediction time. Units are those of the (scaled)
target the network is trained on.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit

SCALE_FLOOR = 1e-3  # minimum Normal scale, in scaled-target units; keeps the NLL finite

LIKELIHOODS = ("normal", "mixture", "bernoulli", "categorical")


def n_outputs(likelihood: str, n_components: int = 1) -> int:
    """Number of raw network outputs a likelihood needs (``n_components``: the number of
    mixture components, or of classes for ``categorical``)."""
    if likelihood == "normal":
        return 2
    if likelihood == "mixture":
        return 3 * int(n_components)
    if likelihood == "bernoulli":
        return 1
    if likelihood == "categorical":
        if int(n_components) < 2:
            raise ValueError(
                f"a categorical likelihood needs at least 2 classes, got {n_components}"
            )
        return int(n_components)
    raise ValueError(f"unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}")


# ---------------------------------------------------------------- TensorFlow / TFP (training)


def _tfd():
    import tensorflow_probability as tfp  # lazy: ~5 s import, only when a network trains

    return tfp.distributions


def _softplus_tf(x):
    import tensorflow as tf

    return tf.math.softplus(x) + SCALE_FLOOR


def normal_distribution(raw):
    """``tfd.Normal`` from raw outputs ``(..., 2)``."""
    return _tfd().Normal(loc=raw[..., 0], scale=_softplus_tf(raw[..., 1]))


def mixture_distribution(raw):
    """``tfd.MixtureSameFamily`` of Normals from raw outputs ``(..., 3K)``."""
    tfd = _tfd()
    k = raw.shape[-1] // 3
    return tfd.MixtureSameFamily(
        mixture_distribution=tfd.Categorical(logits=raw[..., :k]),
        components_distribution=tfd.Normal(
            loc=raw[..., k : 2 * k], scale=_softplus_tf(raw[..., 2 * k :])
        ),
    )


def bernoulli_distribution(raw):
    """``tfd.Bernoulli`` from a raw logit ``(..., 1)``."""
    import tensorflow as tf

    return _tfd().Bernoulli(logits=raw[..., 0], dtype=tf.float32)


def categorical_distribution(raw):
    """``tfd.Categorical`` from raw logits ``(..., K)``."""
    return _tfd().Categorical(logits=raw)


def _flat_target(y_true):
    import tensorflow as tf

    return tf.reshape(tf.cast(y_true, tf.float32), [-1])


def normal_nll(y_true, raw):
    """Mean Normal NLL per object (Keras loss signature)."""
    import tensorflow as tf

    return -tf.reduce_mean(normal_distribution(raw).log_prob(_flat_target(y_true)))


def beta_normal_nll(beta: float) -> Callable:
    """Normal NLL with each object's term weighted by its predicted variance to the power
    ``beta``, held constant in the gradient (beta-NLL; Seitzer et al. 2022, ICLR).

    Plain NLL (``beta = 0``) scales each object's gradient on the mean by 1 / sigma^2, so a
    network can stop fitting the mean of hard objects by widening them; ``beta = 1`` gives the
    mean the gradient of MSE. The per-object optimum of sigma is unchanged, so predicted widths
    stay consistent (and committees calibrate them on validation data anyway).
    """
    import tensorflow as tf

    beta = float(beta)

    def loss(y_true, raw):
        dist = normal_distribution(raw)
        weight = tf.stop_gradient(tf.square(dist.scale) ** beta)
        return -tf.reduce_mean(weight * dist.log_prob(_flat_target(y_true)))

    loss.__name__ = f"beta_normal_nll_{beta:g}"
    return loss


def mixture_nll(y_true, raw):
    """Mean Normal-mixture NLL per object (Keras loss signature)."""
    import tensorflow as tf

    return -tf.reduce_mean(mixture_distribution(raw).log_prob(_flat_target(y_true)))


def bernoulli_nll(y_true, raw):
    """Mean Bernoulli NLL (binary cross-entropy, nats) per object (Keras loss signature)."""
    import tensorflow as tf

    return -tf.reduce_mean(bernoulli_distribution(raw).log_prob(_flat_target(y_true)))


def categorical_nll(y_true, raw):
    """Mean Categorical NLL (cross-entropy, nats) per object; ``y_true`` holds class indices
    0..K-1 (Keras loss signature)."""
    import tensorflow as tf

    k = tf.cast(_flat_target(y_true), tf.int32)
    return -tf.reduce_mean(categorical_distribution(raw).log_prob(k))


def keras_loss(likelihood: str, nll_beta: float = 0.0) -> Callable:
    """The Keras loss function (y_true, raw) -> scalar NLL for a likelihood name.

    ``nll_beta > 0`` (Normal only) gives :func:`beta_normal_nll`.
    """
    losses = {
        "normal": normal_nll,
        "mixture": mixture_nll,
        "bernoulli": bernoulli_nll,
        "categorical": categorical_nll,
    }
    if likelihood not in losses:
        raise ValueError(f"unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}")
    if not 0.0 <= float(nll_beta) <= 1.0:
        raise ValueError(f"nll_beta must be in [0, 1], got {nll_beta}")
    if float(nll_beta) > 0.0:
        if likelihood != "normal":
            raise ValueError(f"nll_beta applies to the normal likelihood only, not {likelihood!r}")
        return beta_normal_nll(nll_beta)
    return losses[likelihood]


# ---------------------------------------------------------------- numpy twins (prediction)


def softplus_np(x: np.ndarray) -> np.ndarray:
    """Numerically stable softplus, float64."""
    return np.logaddexp(0.0, x)


def normal_params(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(loc, scale) from raw outputs ``(n, 2)``: same mapping as :func:`normal_distribution`."""
    return raw[:, 0], softplus_np(raw[:, 1]) + SCALE_FLOOR


def mixture_params(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights, locs, scales), each ``(n, K)``, from raw outputs ``(n, 3K)``."""
    k = raw.shape[1] // 3
    logits = raw[:, :k] - raw[:, :k].max(axis=1, keepdims=True)
    w = np.exp(logits)
    w /= w.sum(axis=1, keepdims=True)
    return w, raw[:, k : 2 * k], softplus_np(raw[:, 2 * k :]) + SCALE_FLOOR


def bernoulli_params(raw: np.ndarray) -> np.ndarray:
    """P(class 1) from a raw logit ``(n, 1)``."""
    return expit(raw[:, 0])


def categorical_params(raw: np.ndarray) -> np.ndarray:
    """Class probabilities ``(n, K)`` from raw logits ``(n, K)`` (softmax, as
    :func:`categorical_distribution`)."""
    z = raw - raw.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return p
