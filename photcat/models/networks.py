"""Probabilistic Keras 3 networks (TensorFlow backend) in the scikit-learn estimator style.

- :class:`NormalMLP`    photo-z, heteroscedastic Normal output (mean, softplus std); NLL loss
  (optionally beta-NLL, ``nll_beta``)
- :class:`MixtureMLP`   photo-z, mixture of ``n_components`` Normals; NLL loss
- :class:`BernoulliMLP` star-forming (0) / quiescent (1), logit output; Bernoulli NLL loss
- :class:`CategoricalMLP` object classes (star / galaxy / QSO, ...), one logit per class
  (softmax); Categorical NLL loss, i.e. the cross-entropy

With ``bayesian=True`` every layer is a :class:`photcat.models.bayes.DenseVariational`
(Bayes by backprop; KL scaled by ``1 / n_train``) and predictions integrate over
``n_weight_samples`` weight draws: a photo-z becomes the mixture over draws, a probability the
mean over draws. Draws are seeded by ``random_state``, so predictions are reproducible.

Inputs are standardised with a :class:`~photcat.models.scaling.Standardizer` fitted on the
training rows only (photo-z targets too) and saved with the model. Feature errors (1 sigma, same
units and shape as ``X``) are used according to ``error_mode``: ``"inputs"`` appends them as
extra (standardised) inputs, ``"noise"`` perturbs every epoch's training inputs by
``errors * N(0, 1)``, ``"both"`` does both, ``"none"`` ignores them.

Prediction runs through the one numpy forward pass of the trained weights
(:class:`photcat.models.forward.Network`, float32, as Keras computes), which avoids Keras
``predict`` overhead; Bayesian networks sample their weight distributions in numpy (float64).
``predict_dist`` gives the distribution, ``predict`` its mean (photo-z) or the 0/1 label
(classifier). TensorFlow is imported only when a network is built or loaded.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from photcat.console import Progress, current_label
from photcat.models import likelihoods as lik
from photcat.models.base import (
    NotFittedError,
    ObjectClassifier,
    PhotoZEstimator,
    QuiescentClassifier,
    check_Xy,
    encode_classes,
)
from photcat.models.forward import INPLACE_ACTIVATIONS, distribution, network_from_keras
from photcat.models.predictions import MixturePrediction, mix_members
from photcat.models.scaling import Standardizer

OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam", "amsgrad")
ERROR_MODES = ("none", "inputs", "noise", "both")
LR_DECAYS = ("none", "exponential", "inverse_time")
MONITORS = ("nll", "mse", "none")

ACTIVATIONS = tuple(a for a in INPLACE_ACTIVATIONS if a not in ("linear", "silu"))


def _keras():
    """Import TensorFlow and Keras (lazily); honour ``PHOTCAT_TF_THREADS`` if set."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    threads = os.environ.get("PHOTCAT_TF_THREADS")
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        except RuntimeError:  # TF already initialised: keep its settings
            pass
    return tf, keras


def make_optimizer(
    name: str,
    learning_rate: float,
    *,
    momentum: float = 0.9,
    lr_decay: str = "none",
    lr_decay_rate: float = 0.0,
    steps_per_epoch: int = 1,
    clipnorm: float | None = None,
):
    """A Keras optimizer by name, with an optional per-epoch learning-rate decay schedule.

    ``exponential``: ``lr * (1 - lr_decay_rate) ** epoch``; ``inverse_time``:
    ``lr / (1 + lr_decay_rate * epoch)`` (both applied smoothly per step).
    """
    _, keras = _keras()
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {OPTIMIZERS}")
    if lr_decay not in LR_DECAYS:
        raise ValueError(f"unknown lr_decay {lr_decay!r}; expected one of {LR_DECAYS}")
    lr: Any = float(learning_rate)
    if lr_decay == "exponential" and lr_decay_rate > 0:
        lr = keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=steps_per_epoch, decay_rate=1.0 - float(lr_decay_rate)
        )
    elif lr_decay == "inverse_time" and lr_decay_rate > 0:
        lr = keras.optimizers.schedules.InverseTimeDecay(
            lr, decay_steps=steps_per_epoch, decay_rate=float(lr_decay_rate)
        )
    kw = {"learning_rate": lr, "clipnorm": clipnorm}
    if name == "sgd":
        return keras.optimizers.SGD(momentum=momentum, **kw)
    if name == "adagrad":
        return keras.optimizers.Adagrad(**kw)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(**kw)
    return keras.optimizers.Adam(amsgrad=(name == "amsgrad"), **kw)


def _keras_outputs(model, Z: np.ndarray, rows: int = 65536) -> np.ndarray:
    """``model(Z, training=False)`` in blocks of ``rows``, as one numpy array."""
    return np.concatenate(
        [np.asarray(model(Z[i : i + rows], training=False)) for i in range(0, len(Z), rows)]
    )


class _KerasMLP:
    """Shared machinery of the three networks (not an estimator on its own)."""

    _likelihood: ClassVar[str]
    _regression: ClassVar[bool]

    # ------------------------------------------------------------------ configuration
    def _n_components(self) -> int:
        return 1

    def _check_params(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.error_mode not in ERROR_MODES:
            raise ValueError(f"error_mode must be one of {ERROR_MODES}, got {self.error_mode!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"lr_decay must be one of {LR_DECAYS}, got {self.lr_decay!r}")
        if not 0.0 <= self._nll_beta() <= 1.0:
            raise ValueError(f"nll_beta must be in [0, 1], got {self._nll_beta()}")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {MONITORS}, got {self.monitor!r}")
        if self.bayesian and (self.monitor == "mse" or self._nll_beta() > 0):
            # a variational layer draws new weights on every call, so one validation pass scores
            # a single draw; and beta would reweight the likelihood against the KL term
            raise ValueError("bayesian networks need monitor 'nll' or 'none' and nll_beta=0")
        if len(tuple(self.hidden_layers)) < 1 or min(self.hidden_layers) < 1:
            raise ValueError(f"hidden_layers must be positive widths, got {self.hidden_layers!r}")

    def _nll_beta(self) -> float:
        return float(getattr(self, "nll_beta", 0.0))

    def _uses_error_inputs(self) -> bool:
        return self.error_mode in ("inputs", "both")

    def _uses_error_noise(self) -> bool:
        return self.error_mode in ("noise", "both")

    # ------------------------------------------------------------------ data preparation
    def _check_errors(self, X: np.ndarray, errors, *, needed: bool, what: str) -> np.ndarray | None:
        if not needed:
            return None
        if errors is None:
            raise ValueError(f"error_mode={self.error_mode!r} needs `errors` for {what}")
        E = np.asarray(errors, dtype=np.float64)
        if E.shape != X.shape:
            raise ValueError(f"errors shape {E.shape} differs from X shape {X.shape} ({what})")
        bad = ~np.isfinite(E).all(axis=1) | (E < 0).any(axis=1)
        if bad.any():
            raise ValueError(f"errors has {int(bad.sum())} rows with NaN, inf or negative values")
        return E

    def _net_inputs(self, X: np.ndarray, E: np.ndarray | None) -> np.ndarray:
        Xs = self.scaler_x_.transform(X)
        if self._uses_error_inputs():
            Xs = np.concatenate([Xs, self.scaler_e_.transform(E)], axis=1)
        return Xs

    def _target(self, y: np.ndarray) -> np.ndarray:
        if self._regression:
            return self.scaler_y_.transform(y)
        if self._likelihood == "categorical":
            return y  # class indices, encoded by CategoricalMLP.fit
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("classifier labels y must be 0 (star-forming) or 1 (quiescent)")
        return y

    # ------------------------------------------------------------------ model
    def _build(self, n_inputs: int, n_train: int):
        _, keras = _keras()
        n_out = lik.n_outputs(self._likelihood, self._n_components())
        inp = keras.Input(shape=(n_inputs,), name="features")
        h = inp
        widths = [int(w) for w in self.hidden_layers]
        if self.bayesian:
            from photcat.models.bayes import DenseVariational

            for i, w in enumerate(widths):
                h = DenseVariational(
                    w,
                    activation=self.activation,
                    prior_std=self.prior_std,
                    kl_weight=1.0 / n_train,
                    seed=self.random_state + 1000 * (i + 1),
                    name=f"hidden_{i}",
                )(h)
            out = DenseVariational(
                n_out,
                prior_std=self.prior_std,
                kl_weight=1.0 / n_train,
                seed=self.random_state + 7,
                name="raw_params",
            )(h)
        else:
            for i, w in enumerate(widths):
                init = keras.initializers.GlorotUniform(seed=self.random_state + 1000 * (i + 1))
                h = keras.layers.Dense(
                    w, activation=self.activation, kernel_initializer=init, name=f"hidden_{i}"
                )(h)
            out = keras.layers.Dense(
                n_out,
                kernel_initializer=keras.initializers.GlorotUniform(seed=self.random_state + 7),
                name="raw_params",
            )(h)
        return keras.Model(inp, out, name=type(self).__name__)

    def _validation_mse(self, model, Zv: np.ndarray, tv: np.ndarray) -> float:
        """Mean squared error of the predicted mean on scaled validation targets (Brier score
        for the classifier), from the current weights."""
        raw = _keras_outputs(model, Zv).astype(np.float64)
        if self._likelihood == "normal":
            mean = lik.normal_params(raw)[0]
        elif self._likelihood == "mixture":
            mean = MixturePrediction(*lik.mixture_params(raw), lower=None).mean()  # scaled z
        elif self._likelihood == "categorical":  # multi-class Brier score
            p = lik.categorical_params(raw)
            p[np.arange(len(p)), tv.astype(int)] -= 1.0
            return float(np.mean(np.sum(p * p, axis=1)))
        else:
            mean = lik.bernoulli_params(raw)
        return float(np.mean((mean - tv.astype(np.float64)) ** 2))

    def _compiled_model(self, n_inputs: int, n_train: int):
        """The Keras network for ``n_inputs`` inputs, compiled with this estimator's optimizer
        (and learning-rate schedule) and likelihood loss."""
        model = self._build(n_inputs, n_train)
        model.compile(
            optimizer=make_optimizer(
                self.optimizer,
                self.learning_rate,
                momentum=self.momentum,
                lr_decay=self.lr_decay,
                lr_decay_rate=self.lr_decay_rate,
                steps_per_epoch=int(np.ceil(n_train / self.batch_size)),
                clipnorm=self.clipnorm,
            ),
            loss=lik.keras_loss(self._likelihood, self._nll_beta()),
        )
        return model

    def _fit_scalers(self, X: np.ndarray, y: np.ndarray, E: np.ndarray | None) -> None:
        """Standardisers of the inputs, errors and (regression) target, on training rows."""
        self.scaler_x_ = Standardizer.fit(X)
        self.scaler_e_ = Standardizer.fit(E) if self._uses_error_inputs() else None
        self.scaler_y_ = Standardizer.fit(y) if self._regression else None

    def _validation_rows(self, X, y, E, validation, rng):
        """(X, y, E) for training and (Xv, yv, Ev) for validation: ``validation`` as given,
        else a seeded ``validation_fraction`` of the training rows, else none."""
        if validation is not None:
            Xv, yv = check_Xy(validation[0], validation[1])
            Ev = self._check_errors(
                Xv,
                validation[2] if len(validation) > 2 else None,
                needed=self._uses_error_inputs(),
                what="validation (pass validation=(X, y, errors))",
            )
            return (X, y, E), (Xv, yv, Ev)
        if self.validation_fraction and self.validation_fraction > 0:
            perm = rng.permutation(X.shape[0])
            n_val = max(1, int(round(self.validation_fraction * X.shape[0])))
            iv, it = perm[:n_val], perm[n_val:]
            sub = lambda a, i: None if a is None else a[i]  # noqa: E731
            return (X[it], y[it], sub(E, it)), (X[iv], y[iv], sub(E, iv))
        return (X, y, E), (None, None, None)

    def _fit(self, X, y, validation, errors):
        self._check_params()
        X, y = check_Xy(X, y)
        E = self._check_errors(X, errors, needed=self.error_mode != "none", what="training")
        tf, keras = _keras()
        keras.utils.set_random_seed(int(self.random_state))
        if self.deterministic:
            tf.config.experimental.enable_op_determinism()
        rng = np.random.default_rng(int(self.random_state))
        (X, y, E), (Xv, yv, Ev) = self._validation_rows(X, y, E, validation, rng)

        self.n_features_in_ = X.shape[1]
        self.n_train_ = X.shape[0]
        self._fit_scalers(X, y, E)
        t = self._target(y).astype(np.float32)
        tv = self._target(yv).astype(np.float32) if yv is not None else None
        Ztr = self._net_inputs(X, E)
        Zv = self._net_inputs(Xv, Ev).astype(np.float32) if Xv is not None else None
        E_noise = self.scaler_x_.scale_errors(E) if self._uses_error_noise() else None
        model = self._compiled_model(Ztr.shape[1], Ztr.shape[0])
        self.history_ = self._train(model, keras, Ztr, t, Zv, tv, E_noise, rng)
        self.model_ = model
        self._cache_weights()
        return self

    def _train(self, model, keras, Ztr, t, Zv, tv, E_noise, rng) -> dict[str, Any]:
        """Run the epochs with early stopping on ``monitor``; keep the best weights in
        ``model``; return the training history."""
        hist: dict[str, Any] = {"loss": [], "val_loss": []}
        if Zv is not None:
            hist["initial_val_loss"] = float(model.evaluate(Zv, tv, batch_size=4096, verbose=0))
        track = {"best": np.inf, "weights": None, "wait": 0}
        hist["best_epoch"] = self.epochs - 1
        patience = self.patience
        progress = Progress(current_label(f"training {type(self).__name__}"), self.epochs, "epochs")

        def end_of_epoch(epoch: int, logs: dict) -> bool:
            """Record the epoch; True when early stopping says stop."""
            loss = float(logs["loss"])
            if not np.isfinite(loss):
                raise FloatingPointError(
                    f"training loss became {loss} at epoch {epoch}; lower learning_rate "
                    f"(now {self.learning_rate}) or set clipnorm"
                )
            hist["loss"].append(loss)
            if Zv is None:
                progress.advance(1, note=f"loss {loss:.4f}")
                return False
            vl = float(logs["val_loss"])
            hist["val_loss"].append(vl)
            progress.advance(1, note=f"validation loss {vl:.4f}")
            if self.monitor == "none":
                return False
            if self.monitor == "mse":
                vl = self._validation_mse(model, Zv, tv)
                hist.setdefault("val_mse", []).append(vl)
            if vl < track["best"] - 1e-6:
                track.update(best=vl, weights=model.get_weights(), wait=0)
                hist["best_epoch"] = epoch
                return False
            track["wait"] += 1
            return patience is not None and track["wait"] >= patience

        class _EarlyStop(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if end_of_epoch(epoch, logs or {}):
                    self.model.stop_training = True

        fit_kw = {
            "batch_size": int(self.batch_size),
            "shuffle": True,
            "verbose": 0,
            "validation_data": (Zv, tv) if Zv is not None else None,
        }
        t0 = time.perf_counter()
        with progress:
            if E_noise is None:  # one fit call: no per-epoch Keras overhead
                model.fit(
                    Ztr.astype(np.float32),
                    t,
                    epochs=int(self.epochs),
                    callbacks=[_EarlyStop()],
                    **fit_kw,
                )
            else:  # new Gaussian perturbation of the inputs by their own errors every epoch
                n_feat = E_noise.shape[1]
                for epoch in range(int(self.epochs)):
                    Zt = Ztr.copy()
                    Zt[:, :n_feat] += E_noise * rng.standard_normal(E_noise.shape)
                    h = model.fit(Zt.astype(np.float32), t, epochs=1, **fit_kw)
                    logs = {k: v[-1] for k, v in h.history.items()}
                    if end_of_epoch(epoch, logs):
                        break
        best_w = track["weights"]
        if best_w is not None:
            model.set_weights(best_w)
        hist["n_epochs"] = len(hist["loss"])
        hist["train_seconds"] = time.perf_counter() - t0
        if Zv is not None:
            hist["final_val_loss"] = float(model.evaluate(Zv, tv, batch_size=4096, verbose=0))
        return hist

    # ------------------------------------------------------------------ numpy forward pass
    def _cache_weights(self) -> None:
        """Build the prediction path from the Keras model: the numpy :class:`Network` of a
        plain network, or the variational layers' weight distributions of a Bayesian one."""
        from photcat.models.bayes import DenseVariational

        self.forward_ = None
        self._np_layers = []
        if not self.bayesian:
            scalers = {
                "x": self.scaler_x_.to_dict(),
                "e": self.scaler_e_.to_dict() if self.scaler_e_ is not None else None,
                "y": self.scaler_y_.to_dict() if self.scaler_y_ is not None else None,
            }
            self.forward_ = network_from_keras(
                self.model_, self._likelihood, scalers, self._classes()
            )
            if self.forward_ is None:
                raise ValueError(f"{type(self).__name__}: not a chain of Dense layers")
            return
        for layer in self.model_.layers:
            if isinstance(layer, DenseVariational):
                w = [np.asarray(v, dtype=np.float64) for v in layer.get_weights()]
                self._np_layers.append({"w": w, "act": layer.activation_name or "linear"})

    def _sampled_raw(self, Z: np.ndarray) -> np.ndarray:
        """Bayesian networks: raw outputs ``(S, n, n_out)`` for ``S`` seeded weight draws."""
        from photcat.models.bayes import numpy_sample

        rng = np.random.default_rng([int(self.random_state), 20240])
        S = int(self.n_weight_samples)
        draws = []
        for layer in self._np_layers:
            k_mu, k_rho, b_mu, b_rho = layer["w"]
            draws.append((numpy_sample(k_mu, k_rho, S, rng), numpy_sample(b_mu, b_rho, S, rng)))
        out = []
        width = max(max(int(w) for w in self.hidden_layers), 1)
        rows = max(256, 2**22 // (S * width))
        for start in range(0, Z.shape[0], rows):
            h = np.broadcast_to(Z[start : start + rows], (S, *Z[start : start + rows].shape))
            for layer, (k, b) in zip(self._np_layers, draws, strict=True):
                h = np.matmul(h, k) + b[:, None, :]
                if INPLACE_ACTIVATIONS[layer["act"]] is not None:
                    h = INPLACE_ACTIVATIONS[layer["act"]](h)
            out.append(h)
        return np.concatenate(out, axis=1)

    def _check_fitted(self) -> None:
        if not hasattr(self, "forward_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() first")

    def predict_dist(self, X, *, errors=None):
        """Per-object distribution: the forward pass's Normal, Normal mixture or
        P(quiescent); for Bayesian networks the mixture (photo-z) or mean (classifier) over
        ``n_weight_samples`` weight draws. ``errors``: 1-sigma errors of ``X`` (needed with
        error inputs)."""
        self._check_fitted()
        X, _ = check_Xy(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{type(self).__name__} was fitted on {self.n_features_in_} features, got {X.shape[1]}"
            )
        E = self._check_errors(X, errors, needed=self._uses_error_inputs(), what="prediction")
        if self.forward_ is not None:
            return self.forward_.predict_dist(X, E)
        raws = self._sampled_raw(self._net_inputs(X, E))
        affine = self._y_affine()
        return mix_members(
            [distribution(self._likelihood, r, *affine, self._classes()) for r in raws]
        )

    def _classes(self) -> tuple[str, ...] | None:
        """The class names of a categorical network's outputs, else None."""
        return None if self._likelihood != "categorical" else tuple(self.classes_.tolist())

    def _y_affine(self) -> tuple[float, float]:
        """(mean, scale) of the target standardiser (0, 1 for the classifier)."""
        sy = self.scaler_y_
        return (float(sy.mean[0]), float(sy.scale[0])) if sy is not None else (0.0, 1.0)

    def keras_raw_outputs(self, X: np.ndarray, errors: np.ndarray | None = None) -> np.ndarray:
        """Raw outputs of the Keras model itself (``model(X, training=False)``), float32.

        For checks against the numpy forward pass (non-Bayesian networks).
        """
        self._check_fitted()
        X, _ = check_Xy(X)
        E = self._check_errors(X, errors, needed=self._uses_error_inputs(), what="prediction")
        return _keras_outputs(self.model_, self._net_inputs(X, E).astype(np.float32))

    # ------------------------------------------------------------------ persistence hooks
    def _save_state(self, folder: Path) -> dict:
        """Write ``model.keras`` and ``scaler.json`` into ``folder``; return JSON state."""
        self._check_fitted()
        self.model_.save(folder / "model.keras")
        scalers = {
            "x": self.scaler_x_.to_dict(),
            "e": self.scaler_e_.to_dict() if self.scaler_e_ is not None else None,
            "y": self.scaler_y_.to_dict() if self.scaler_y_ is not None else None,
        }
        (folder / "scaler.json").write_text(json.dumps(scalers, indent=1))
        return {
            "keras_file": "model.keras",
            "scaler_file": "scaler.json",
            "n_features_in_": int(self.n_features_in_),
            "n_train_": int(self.n_train_),
            "history_": self.history_,
            **({"classes_": list(self._classes())} if self._classes() else {}),
        }

    def _load_state(self, folder: Path, state: dict, *, trusted: bool = False) -> None:
        """Rebuild from :meth:`_save_state` output; the ``.keras`` file loads in safe mode."""
        for key in ("keras_file", "scaler_file"):
            if Path(state[key]).name != state[key]:
                raise ValueError(f"{key}={state[key]!r} must be a file name inside {folder}")
        _, keras = _keras()
        import photcat.models.bayes  # noqa: F401  (registers DenseVariational)

        self.model_ = keras.saving.load_model(
            folder / state["keras_file"], compile=False, safe_mode=True
        )
        scalers = json.loads((folder / state["scaler_file"]).read_text())
        self.scaler_x_ = Standardizer.from_dict(scalers["x"])
        self.scaler_e_ = Standardizer.from_dict(scalers["e"]) if scalers["e"] else None
        self.scaler_y_ = Standardizer.from_dict(scalers["y"]) if scalers["y"] else None
        self.n_features_in_ = int(state["n_features_in_"])
        self.n_train_ = int(state["n_train_"])
        self.history_ = state["history_"]
        if self._likelihood == "categorical":
            self.classes_ = np.asarray([str(c) for c in state["classes_"]])
        self._cache_weights()


class NormalMLP(_KerasMLP, PhotoZEstimator):
    """Photo-z MLP with a heteroscedastic Normal output, trained on the Normal NLL.

    Parameters (all training choices):
    ``hidden_layers`` widths; ``activation`` (one of ``ACTIVATIONS``); ``optimizer`` (one of
    ``OPTIMIZERS``: mini-batch SGD with ``momentum``, Adagrad, RMSprop, Adam, AMSGrad);
    ``learning_rate``; ``lr_decay`` (``none``/``exponential``/``inverse_time``) with
    ``lr_decay_rate`` per epoch; ``batch_size``; ``epochs``; ``patience`` (early stopping: stop
    after ``patience`` epochs without improvement, None = never) and ``monitor``, the validation
    figure that picks the kept weights (``"nll"``: the validation loss, i.e. the negative
    log-likelihood, beta-weighted when ``nll_beta > 0``, as is ``history_["val_loss"]``;
    ``"mse"``: mean squared error of the predicted mean, Brier score for the classifier;
    ``"none"``: keep the last epoch's weights, no early stopping); ``validation_fraction`` of
    training rows held
    out when ``fit`` gets no ``validation``; ``clipnorm`` (gradient clipping, None = off);
    ``random_state`` (the seed); ``deterministic`` (TensorFlow op determinism; a process-wide switch);
    ``error_mode``; ``nll_beta`` (0 = plain Normal NLL; > 0 weights each object's NLL by its
    predicted variance to that power, :func:`~photcat.models.likelihoods.beta_normal_nll`);
    ``bayesian`` with ``n_weight_samples`` and ``prior_std``.

    Defaults were chosen on ANNz's SDSS example (colours u-g, g-r, r-i, i-z and r); the
    figures are in benchmarks/ and docs/performance.md.
    """

    _likelihood = "normal"
    _regression = True

    def __init__(
        self,
        hidden_layers: tuple[int, ...] = (32, 32, 32),
        activation: str = "tanh",
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        momentum: float = 0.9,
        lr_decay: str = "inverse_time",
        lr_decay_rate: float = 0.005,
        batch_size: int = 32,
        epochs: int = 300,
        patience: int | None = 40,
        monitor: str = "nll",
        validation_fraction: float = 0.1,
        clipnorm: float | None = 5.0,
        random_state: int = 0,
        deterministic: bool = True,
        error_mode: str = "none",
        nll_beta: float = 0.0,
        bayesian: bool = False,
        n_weight_samples: int = 20,
        prior_std: float = 1.0,
    ) -> None:
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.lr_decay = lr_decay
        self.lr_decay_rate = lr_decay_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.monitor = monitor
        self.validation_fraction = validation_fraction
        self.clipnorm = clipnorm
        self.random_state = random_state
        self.deterministic = deterministic
        self.error_mode = error_mode
        self.nll_beta = nll_beta
        self.bayesian = bayesian
        self.n_weight_samples = n_weight_samples
        self.prior_std = prior_std

    def fit(self, X, y, *, validation=None, errors=None) -> NormalMLP:
        """Train on features ``X`` (n, d) and spectroscopic redshifts ``y``.

        ``validation`` = ``(X_val, z_val)`` or ``(X_val, z_val, errors_val)``;
        ``errors`` = 1-sigma errors of ``X`` (needed unless ``error_mode="none"``).
        """
        return self._fit(X, y, validation, errors)


class MixtureMLP(_KerasMLP, PhotoZEstimator):
    """Photo-z MLP with a mixture of ``n_components`` Normals (multimodal PDFs).

    Same training parameters as :class:`NormalMLP` except ``nll_beta``.
    """

    _likelihood = "mixture"
    _regression = True

    def __init__(
        self,
        n_components: int = 3,
        hidden_layers: tuple[int, ...] = (32, 32, 32),
        activation: str = "tanh",
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        momentum: float = 0.9,
        lr_decay: str = "inverse_time",
        lr_decay_rate: float = 0.005,
        batch_size: int = 32,
        epochs: int = 300,
        patience: int | None = 40,
        monitor: str = "nll",
        validation_fraction: float = 0.1,
        clipnorm: float | None = 5.0,
        random_state: int = 0,
        deterministic: bool = True,
        error_mode: str = "none",
        bayesian: bool = False,
        n_weight_samples: int = 20,
        prior_std: float = 1.0,
    ) -> None:
        self.n_components = n_components
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.lr_decay = lr_decay
        self.lr_decay_rate = lr_decay_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.monitor = monitor
        self.validation_fraction = validation_fraction
        self.clipnorm = clipnorm
        self.random_state = random_state
        self.deterministic = deterministic
        self.error_mode = error_mode
        self.bayesian = bayesian
        self.n_weight_samples = n_weight_samples
        self.prior_std = prior_std

    def _n_components(self) -> int:
        if int(self.n_components) < 1:
            raise ValueError(f"n_components must be >= 1, got {self.n_components}")
        return int(self.n_components)

    def fit(self, X, y, *, validation=None, errors=None) -> MixtureMLP:
        """Train; arguments as :meth:`NormalMLP.fit`."""
        return self._fit(X, y, validation, errors)


class BernoulliMLP(_KerasMLP, QuiescentClassifier):
    """Quiescent (1) vs star-forming (0) MLP: logit output, Bernoulli NLL loss.

    Same training parameters as :class:`NormalMLP` except ``nll_beta``.
    """

    _likelihood = "bernoulli"
    _regression = False

    def __init__(
        self,
        hidden_layers: tuple[int, ...] = (16, 16),
        activation: str = "tanh",
        optimizer: str = "adam",
        learning_rate: float = 3e-3,
        momentum: float = 0.9,
        lr_decay: str = "inverse_time",
        lr_decay_rate: float = 0.01,
        batch_size: int = 64,
        epochs: int = 200,
        patience: int | None = 20,
        monitor: str = "nll",
        validation_fraction: float = 0.1,
        clipnorm: float | None = 5.0,
        random_state: int = 0,
        deterministic: bool = True,
        error_mode: str = "none",
        bayesian: bool = False,
        n_weight_samples: int = 20,
        prior_std: float = 1.0,
    ) -> None:
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.lr_decay = lr_decay
        self.lr_decay_rate = lr_decay_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.monitor = monitor
        self.validation_fraction = validation_fraction
        self.clipnorm = clipnorm
        self.random_state = random_state
        self.deterministic = deterministic
        self.error_mode = error_mode
        self.bayesian = bayesian
        self.n_weight_samples = n_weight_samples
        self.prior_std = prior_std

    def fit(self, X, y, *, validation=None, errors=None) -> BernoulliMLP:
        """Train on features ``X`` and labels ``y`` (1 quiescent, 0 star-forming)."""
        return self._fit(X, y, validation, errors)


class CategoricalMLP(_KerasMLP, ObjectClassifier):
    """Object-class MLP (e.g. STAR / GALAXY / QSO): one logit per class, softmax, trained on
    the Categorical NLL (the cross-entropy), as :class:`BernoulliMLP` is on the Bernoulli's.

    Labels may be any text or numbers; ``classes_`` holds them sorted, as text, and is the
    column order of ``predict_proba``. Same training parameters as :class:`BernoulliMLP`;
    ``monitor="mse"`` picks weights on the validation multi-class Brier score.
    """

    _likelihood = "categorical"
    _regression = False

    def __init__(
        self,
        hidden_layers: tuple[int, ...] = (32, 32),
        activation: str = "tanh",
        optimizer: str = "adam",
        learning_rate: float = 3e-3,
        momentum: float = 0.9,
        lr_decay: str = "inverse_time",
        lr_decay_rate: float = 0.01,
        batch_size: int = 64,
        epochs: int = 200,
        patience: int | None = 20,
        monitor: str = "nll",
        validation_fraction: float = 0.1,
        clipnorm: float | None = 5.0,
        random_state: int = 0,
        deterministic: bool = True,
        error_mode: str = "none",
        bayesian: bool = False,
        n_weight_samples: int = 20,
        prior_std: float = 1.0,
    ) -> None:
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.lr_decay = lr_decay
        self.lr_decay_rate = lr_decay_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.monitor = monitor
        self.validation_fraction = validation_fraction
        self.clipnorm = clipnorm
        self.random_state = random_state
        self.deterministic = deterministic
        self.error_mode = error_mode
        self.bayesian = bayesian
        self.n_weight_samples = n_weight_samples
        self.prior_std = prior_std

    def _n_components(self) -> int:
        return int(self.classes_.size)

    def fit(self, X, y, *, validation=None, errors=None) -> CategoricalMLP:
        """Train on features ``X`` and class labels ``y``; ``validation`` = ``(X_val,
        y_val)`` or ``(X_val, y_val, errors_val)``, its labels among those of ``y``."""
        self.classes_, idx = encode_classes(y)
        if validation is not None:
            _, vidx = encode_classes(validation[1], self.classes_)
            validation = (validation[0], vidx, *validation[2:])
        return self._fit(X, idx, validation, errors)
