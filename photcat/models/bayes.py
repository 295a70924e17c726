"""A small variational dense layer (Bayes by backprop; Blundell et al. 2015) for Keras 3.

Each weight has a Normal posterior ``N(mu, softplus(rho)^2)``; every forward pass draws the
weights by reparameterisation (``w = mu + softplus(rho) * eps``) and adds the closed-form
KL divergence to a ``N(0, prior_std^2)`` prior as a layer loss, multiplied by ``kl_weight``
(set it to ``1 / n_train`` so the total loss is the per-object negative ELBO).

Importing this module imports Keras (and so TensorFlow): only ``networks`` does, lazily.
The layer is registered with ``keras.saving.register_keras_serializable`` so ``.keras`` files
holding it load with ``safe_mode=True``. :func:`numpy_sample` draws the same weights in
numpy for the prediction-time forward pass.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="photcat")
class DenseVariational(keras.layers.Layer):
    """Dense layer with factorised-Normal weight posteriors and a Normal prior."""

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        prior_std: float = 1.0,
        kl_weight: float = 1.0,
        init_std: float = 1e-2,
        seed: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.activation_name = activation
        self.prior_std = float(prior_std)
        self.kl_weight = float(kl_weight)
        self.init_std = float(init_std)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape) -> None:
        d = int(input_shape[-1])
        rho0 = float(np.log(np.expm1(self.init_std)))  # softplus^-1(init_std)
        self.kernel_mu = self.add_weight(
            name="kernel_mu",
            shape=(d, self.units),
            initializer=keras.initializers.GlorotUniform(seed=self.seed),
        )
        self.kernel_rho = self.add_weight(
            name="kernel_rho", shape=(d, self.units), initializer=keras.initializers.Constant(rho0)
        )
        self.bias_mu = self.add_weight(name="bias_mu", shape=(self.units,), initializer="zeros")
        self.bias_rho = self.add_weight(
            name="bias_rho", shape=(self.units,), initializer=keras.initializers.Constant(rho0)
        )

    def _kl(self, mu, sigma):
        p = self.prior_std
        return ops.sum(
            ops.log(p / sigma) + (ops.square(sigma) + ops.square(mu)) / (2 * p * p) - 0.5
        )

    def call(self, inputs):
        k_sigma = ops.softplus(self.kernel_rho)
        b_sigma = ops.softplus(self.bias_rho)
        kernel = self.kernel_mu + k_sigma * keras.random.normal(
            ops.shape(self.kernel_mu), seed=self.seed_generator
        )
        bias = self.bias_mu + b_sigma * keras.random.normal(
            ops.shape(self.bias_mu), seed=self.seed_generator
        )
        self.add_loss(
            self.kl_weight * (self._kl(self.kernel_mu, k_sigma) + self._kl(self.bias_mu, b_sigma))
        )
        out = ops.matmul(inputs, kernel) + bias
        return self.activation(out) if self.activation is not None else out

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            units=self.units,
            activation=self.activation_name,
            prior_std=self.prior_std,
            kl_weight=self.kl_weight,
            init_std=self.init_std,
            seed=self.seed,
        )
        return config


def numpy_sample(mu: np.ndarray, rho: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` posterior draws of a weight array: shape ``(n, *mu.shape)``, float64."""
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.logaddexp(0.0, np.asarray(rho, dtype=np.float64))
    return mu + sigma * rng.standard_normal((n, *mu.shape))
