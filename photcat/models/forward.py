"""Vectorised float32 forward pass of fitted photcat networks and committees of them.

At prediction time a catalogue partition of a few hundred thousand rows goes through every
member of a committee. :func:`compile_forward` reads each fitted network's weights from the
Keras model object it holds (``est.model_``: kernels, biases and activations of its Dense
layers) and its input/target standardisers, and returns a :class:`Forward` that evaluates
them with numpy in float32 — the dtype Keras itself computes in — over row chunks small
enough to stay in the CPU cache (with BLAS limited to one thread per process; see
:func:`single_thread_blas`). It agrees with ``model(Z, training=False)`` to float32
round-off (checked in tests/test_stream.py).

Raw outputs are mapped to distribution parameters by the numpy twins in
:mod:`photcat.models.likelihoods` (the single source of truth for the mapping), in float64.
Networks that take feature errors as inputs get them standardised by their own error scaler,
as in training. Bayesian networks are not compiled (``compile_forward`` returns None and
callers use the estimator's own ``predict``, which samples weights).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.special import erf, expit

from photcat.models import likelihoods as lik
from photcat.models.predictions import BernoulliPrediction, MixturePrediction

CHUNK_ROWS = 16_384  # rows per forward chunk: a 32-wide float32 layer is 2 MiB

INPLACE_ACTIVATIONS = {
    "linear": None,
    "relu": lambda x: np.maximum(x, 0, out=x),
    "tanh": lambda x: np.tanh(x, out=x),
    "sigmoid": lambda x: expit(x, out=x),
    "softplus": lambda x: np.logaddexp(np.float32(0), x, out=x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(np.float32),
    "swish": lambda x: x * expit(x),
    "silu": lambda x: x * expit(x),  # Keras 3 saves "swish" under this name
    "gelu": lambda x: (np.float32(0.5) * x * (1 + erf(x / np.float32(np.sqrt(2))))).astype(
        np.float32
    ),
}


@dataclass(frozen=True)
class Network:
    """One fitted MLP: float32 layers plus its float64 standardisers."""

    likelihood: str  # "normal", "mixture" or "bernoulli"
    kernels: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activations: tuple[str, ...]
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float
    y_scale: float
    e_mean: np.ndarray | None = None  # error-input standardiser (error_mode "inputs"/"both")
    e_scale: np.ndarray | None = None

    @classmethod
    def from_parts(
        cls,
        likelihood: str,
        layers: list[tuple[np.ndarray, np.ndarray, str]],
        scalers: dict,
    ) -> Network:
        """A network from its (kernel, bias, activation) layers and its standardisers in the
        ``scaler.json`` form: ``{"x": {"mean", "scale"}, "e": ... or None, "y": ... or None}``."""
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


def _network(est) -> Network | None:
    from photcat.models.networks import BernoulliMLP, MixtureMLP, NormalMLP

    if not isinstance(est, NormalMLP | MixtureMLP | BernoulliMLP):
        return None
    if est.bayesian or not hasattr(est, "model_"):
        return None
    layers = []
    for layer in est.model_.layers:
        weights = layer.get_weights()
        if not weights:
            continue  # the Input layer
        if len(weights) != 2 or type(layer).__name__ != "Dense":
            return None  # a layer this pass does not know: let the estimator predict
        act = layer.get_config().get("activation") or "linear"
        if act not in INPLACE_ACTIVATIONS:
            return None
        layers.append((weights[0], weights[1], act))
    scalers = {
        "x": est.scaler_x_.to_dict(),
        "e": est.scaler_e_.to_dict() if est.scaler_e_ is not None else None,
        "y": est.scaler_y_.to_dict() if est.scaler_y_ is not None else None,
    }
    return Network.from_parts(est._likelihood, layers, scalers)


@dataclass(frozen=True)
class Forward:
    """The compiled forward pass of a network or an equal-weight committee of networks."""

    task: str  # "photoz" or "quiescent"
    networks: tuple[Network, ...]
    width_scale: float = 1.0  # a calibrated committee's stretch (Committee.width_scale_)

    def raw(self, X: np.ndarray, errors: np.ndarray | None = None) -> list[np.ndarray]:
        """Each member's raw outputs (float32) for features ``X`` (n, d) and their errors."""
        return [net.raw(net.inputs(X, errors)) for net in self.networks]

    def predict(
        self, X: np.ndarray, errors: np.ndarray | None = None
    ) -> MixturePrediction | BernoulliPrediction:
        """Same answer as the estimator's ``predict`` (committee: mixture / mean of members)."""
        raws = self.raw(X, errors)
        if self.task == "quiescent":
            p = np.mean([lik.bernoulli_params(r.astype(np.float64)) for r in raws], axis=0)
            return BernoulliPrediction(p)
        ws, ms, ss = [], [], []
        for net, r in zip(self.networks, raws, strict=True):
            r = r.astype(np.float64)
            if net.likelihood == "normal":
                loc, scale = lik.normal_params(r)
                w = np.ones((len(r), 1))
                loc, scale = loc[:, None], scale[:, None]
            else:
                w, loc, scale = lik.mixture_params(r)
            ws.append(w / len(raws))
            ms.append(loc * net.y_scale + net.y_mean)
            ss.append(scale * net.y_scale)
        pred = MixturePrediction(
            np.concatenate(ws, axis=1), np.concatenate(ms, axis=1), np.concatenate(ss, axis=1)
        )
        return pred if self.width_scale == 1.0 else pred.scaled(self.width_scale)


def compile_forward(est) -> Forward | None:
    """A :class:`Forward` for a fitted network or committee of networks, else None."""
    members = getattr(est, "members_", None)
    ests = list(members) if members is not None else [est]
    nets = [_network(e) for e in ests]
    if not nets or any(n is None for n in nets):
        return None
    task = "quiescent" if nets[0].likelihood == "bernoulli" else "photoz"
    if any((n.likelihood == "bernoulli") != (task == "quiescent") for n in nets):
        return None
    scale = float(getattr(est, "width_scale_", 1.0)) if members is not None else 1.0
    return Forward(task, tuple(nets), scale)  # type: ignore[arg-type]


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
