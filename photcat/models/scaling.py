"""Input (and target) standardisation fitted on training data only, serialisable to JSON.

Floats are stored in JSON with ``repr`` precision (Python's shortest round-trip form), so a
scaler reloaded from JSON transforms bit-for-bit like the original.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Standardizer:
    """``(x - mean) / scale`` per column; ``scale`` is the training std (1 where it is 0)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """Fit on a training array ``(n, d)`` (or ``(n,)`` for a target)."""
        X = np.asarray(X, dtype=np.float64)
        if X.shape[0] < 2:
            raise ValueError(f"need at least 2 training rows to fit a scaler, got {X.shape[0]}")
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        return cls(np.atleast_1d(mean), np.atleast_1d(scale))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardised float64 copy of ``X``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 2 and X.shape[1] != self.mean.size:
            raise ValueError(f"scaler was fitted on {self.mean.size} columns, got {X.shape[1]}")
        return (X - self.mean) / self.scale if X.ndim == 2 else (X - self.mean[0]) / self.scale[0]

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """Back to original units."""
        X = np.asarray(X, dtype=np.float64)
        return X * self.scale + self.mean if X.ndim == 2 else X * self.scale[0] + self.mean[0]

    def scale_errors(self, E: np.ndarray) -> np.ndarray:
        """1-sigma errors in original units -> errors in standardised units."""
        return np.asarray(E, dtype=np.float64) / self.scale

    def to_dict(self) -> dict:
        """JSON-ready dict (exact float round trip)."""
        return {
            "kind": "standardizer",
            "mean": [float(v) for v in self.mean],
            "scale": [float(v) for v in self.scale],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Standardizer:
        """Inverse of :meth:`to_dict`."""
        if d.get("kind") != "standardizer":
            raise ValueError(f"not a Standardizer dict: kind={d.get('kind')!r}")
        return cls(
            np.asarray(d["mean"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64)
        )
