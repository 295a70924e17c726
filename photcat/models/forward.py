"""The one numpy forward pass of photcat's networks, and committees of them.

A :class:`Network` evaluates a fitted MLP with numpy in float32 — the dtype Keras itself
computes in — over row chunks small enough to stay in the CPU cache (with BLAS limited to one
thread per process; see :func:`single_thread_blas`). It agrees with
``model(Z, training=False)`` to float32 round-off (checked in the tests). It is built from the
Keras model after ``fit`` or ``load`` (:func:`network_from_keras`) or read straight from a
saved ``.keras`` archive without TensorFlow (:mod:`photcat.models.keras_archive`); every
non-Bayesian network's ``predict_dist`` runs through it, and :class:`Forward` runs a
committee of them for prediction processes.

Raw outputs are mapped to distribution parameters by the numpy twins in
:mod:`photcat.models.likelihoods` (the single source of truth for the mapping), in float64.
Networks that take feature errors as inputs get them standardised by their own error scaler,
as in training. Bayesian networks have weight distributions, not weights: they are not
compiled, and their estimator samples them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.special import erf, expit

from photcat.models import likelihoods as lik
from photcat.models.predictions import (
    BernoulliPrediction,
    CategoricalPrediction,
    MixturePrediction,
    mix_members,
)

CHUNK_ROWS = 16_384  # rows per forward chunk: a 32-wide float32 layer is 2 MiB

INPLACE_ACTIVATIONS = {
    "linear": None,
    "relu": lambda x: np.maximum(x, 0, out=x),
    "tanh": lambda x: np.tanh(x, out=x),
    "sigmoid": lambda x: expit(x, out=x),
    "softplus": lambda x: np.logaddexp(np.float32(0), x, out=x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(x.dtype),
    "swish": lambda x: x * expit(x),
    "silu": lambda x: x * expit(x),  # Keras 3 saves "swish" under this name
    "gelu": lambda x: (0.5 * x * (1 + erf(x / np.sqrt(2).astype(x.dtype)))).astype(x.dtype),
}


@dataclass(frozen=True)
class Network:
    """One fitted MLP: float32 layers plus its float64 standardisers."""

    likelihood: str  # "normal", "mixture", "bernoulli" or "categorical"
    kernels: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activations: tuple[str, ...]
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float
    y_scale: float
    e_mean: np.ndarray | None = None  # error-input standardiser (error_mode "inputs"/"both")
    e_scale: np.ndarray | None = None
    classes: tuple[str, ...] | None = None  # categorical: the class of each output

    @classmethod
    def from_parts(
        cls,
        likelihood: str,
        layers: list[tuple[np.ndarray, np.ndarray, str]],
        scalers: dict,
        classes: tuple[str, ...] | None = None,
    ) -> Network:
        """A network from its (kernel, bias, activation) layers and its standardisers in the
        ``scaler.json`` form: ``{"x": {"mean", "scale"}, "e": ... or None, "y": ... or None}``;
        ``classes``: the class names of a categorical network's outputs, in order."""
        if (likelihood == "categorical") != (classes is not None):
            raise ValueError("a categorical network, and only one, needs its class names")
        sx, se, sy = scalers["x"], scalers.get("e"), scalers.get("y")
        return cls(
            likelihood=likelihood,
            kernels=tuple(np.ascontiguousarray(k, dtype=np.float32) for k, _, _ in layers),
            biases=tuple(np.ascontiguousarray(b, dtype=np.float32) for _, b, _ in layers),
            activations=tuple(a for _, _, a in layers),
            x_mean=np.asarray(sx["mean"], dtype=np.float64),
            x_scale=np.asarray(sx["scale"], dtype=np.float64),
            y_mean=float(sy["mean"][0]) if sy else 0.0,
            y_scale=float(sy["scale"][0]) if sy else 1.0,
            e_mean=np.asarray(se["mean"], dtype=np.float64) if se else None,
            e_scale=np.asarray(se["scale"], dtype=np.float64) if se else None,
            classes=None if classes is None else tuple(str(c) for c in classes),
        )

    @property
    def n_features(self) -> int:
        return self.x_mean.size

    def inputs(self, X: np.ndarray, errors: np.ndarray | None = None) -> np.ndarray:
        """Standardised float32 inputs, exactly as the estimator feeds Keras."""
        Z = (np.asarray(X, dtype=np.float64) - self.x_mean) / self.x_scale
        if self.e_mean is not None:
            if errors is None:
                raise ValueError("this network takes feature errors as inputs: pass errors=")
            E = np.asarray(errors, dtype=np.float64)
            if E.shape != Z.shape:
                raise ValueError(f"errors shape {E.shape} differs from X shape {Z.shape}")
            Z = np.concatenate([Z, (E - self.e_mean) / self.e_scale], axis=1)
        return Z.astype(np.float32)

    def raw(self, Z: np.ndarray) -> np.ndarray:
        """Raw outputs ``(n, n_out)`` float32 for standardised inputs ``Z`` (float32)."""
        out = np.empty((Z.shape[0], self.kernels[-1].shape[1]), dtype=np.float32)
        for s in range(0, Z.shape[0], CHUNK_ROWS):
            h = Z[s : s + CHUNK_ROWS]
            for k, b, a in zip(self.kernels, self.biases, self.activations, strict=True):
                h = h @ k
                h += b
                if INPLACE_ACTIVATIONS[a] is not None:
                    h = INPLACE_ACTIVATIONS[a](h)
            out[s : s + CHUNK_ROWS] = h
        return out

    def predict_dist(
        self, X: np.ndarray, errors: np.ndarray | None = None
    ) -> MixturePrediction | BernoulliPrediction | CategoricalPrediction:
        """The network's distribution for features ``X`` (and their errors), in the target's
        units: a Normal or Normal mixture of redshift, P(quiescent) or class probabilities."""
        return self.distribution(self.raw(self.inputs(X, errors)))

    def distribution(
        self, raw: np.ndarray
    ) -> MixturePrediction | BernoulliPrediction | CategoricalPrediction:
        """Raw outputs -> the distribution, in the target's units."""
        return distribution(self.likelihood, raw, self.y_mean, self.y_scale, self.classes)


TASK_OF_LIKELIHOOD = {
    "normal": "photoz",
    "mixture": "photoz",
    "bernoulli": "quiescent",
    "categorical": "class",
}


def distribution(
    likelihood: str,
    raw: np.ndarray,
    y_mean: float = 0.0,
    y_scale: float = 1.0,
    classes: tuple[str, ...] | None = None,
) -> MixturePrediction | BernoulliPrediction | CategoricalPrediction:
    """A network's raw outputs (float32 or float64) as its distribution: P(quiescent), class
    probabilities (``classes``: the outputs' class names), or a Normal / Normal mixture of
    the target un-standardised by ``y_mean`` and ``y_scale``."""
    r = raw.astype(np.float64)
    if likelihood == "bernoulli":
        return BernoulliPrediction(lik.bernoulli_params(r))
    if likelihood == "categorical":
        return CategoricalPrediction(lik.categorical_params(r), tuple(classes or ()))
    if likelihood == "normal":
        loc, scale = lik.normal_params(r)
        return MixturePrediction.normal(loc * y_scale + y_mean, scale * y_scale)
    w, loc, scale = lik.mixture_params(r)
    return MixturePrediction(w, loc * y_scale + y_mean, scale * y_scale)


def network_from_keras(
    model, likelihood: str, scalers: dict, classes: tuple[str, ...] | None = None
) -> Network | None:
    """The :class:`Network` of a Keras model made of Dense layers with known activations
    (``scalers`` in the ``scaler.json`` form; ``classes`` of a categorical network), else None."""
    layers = []
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue  # the Input layer
        if len(weights) != 2 or type(layer).__name__ != "Dense":
            return None
        act = layer.get_config().get("activation") or "linear"
        if act not in INPLACE_ACTIVATIONS:
            return None
        layers.append((weights[0], weights[1], act))
    return Network.from_parts(likelihood, layers, scalers, classes)


@dataclass(frozen=True)
class Forward:
    """The compiled forward pass of a network or an equal-weight committee of networks."""

    task: str  # "photoz", "quiescent" or "class"
    networks: tuple[Network, ...]
    width_scale: float = 1.0  # a calibrated committee's stretch (Committee.width_scale_)

    def raw(self, X: np.ndarray, errors: np.ndarray | None = None) -> list[np.ndarray]:
        """Each member's raw outputs (float32) for features ``X`` (n, d) and their errors."""
        return [net.raw(net.inputs(X, errors)) for net in self.networks]

    def predict_dist(
        self, X: np.ndarray, errors: np.ndarray | None = None
    ) -> MixturePrediction | BernoulliPrediction | CategoricalPrediction:
        """The committee's distribution, mixed as :class:`~photcat.models.committee.Committee`
        mixes it (:func:`~photcat.models.predictions.mix_members`)."""
        preds = [net.predict_dist(X, errors) for net in self.networks]
        return mix_members(preds, self.width_scale if self.task == "photoz" else 1.0)


def compile_forward(est) -> Forward | None:
    """The :class:`Forward` of a fitted network or committee of networks (the numpy passes
    their ``fit`` built), else None (Bayesian networks, classical models)."""
    members = getattr(est, "members_", None)
    nets = [getattr(e, "forward_", None) for e in (members if members is not None else [est])]
    if not nets or any(n is None for n in nets):
        return None
    kinds = {TASK_OF_LIKELIHOOD[n.likelihood] for n in nets}
    if len(kinds) != 1:
        return None
    task = kinds.pop()
    scale = float(getattr(est, "width_scale_", 1.0)) if members is not None else 1.0
    return Forward(task, tuple(nets), scale)


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    """Limit BLAS to one thread: for these skinny matrices threads cost more than they give.

    Parallelism comes from processing partitions in several processes instead.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
