"""How large a photcat network is for its training set: the one sizing rule.

:func:`sized_params` gives the parameters that follow the number of training rows; the
registry applies them (:func:`photcat.models.registry.build` with ``n_rows``) under the
parameters a user sets, and the model's manifest records what was used. The evidence is in
``docs/photoz.md`` ("Models sized to their training set") and
``benchmarks/results/missing_bands.json``:

* ``batch_size``: 32 below :data:`LARGE_SET` rows, 256 from there. With 32, an epoch over
  BOSS's training rows is 500–700 optimizer steps, and the default committee's fit took
  440–506 s on two cores (the first missing-band measurement, seed 0); with 256 (and 64-unit
  layers) ``photcat train`` on the whole BOSS file takes 3 min 41 s, 217 s of it fitting.
  The benchmark had used 256 on BOSS since its first run (``accuracy.json``). Below 10,000
  rows (ANNz's 5,000-row SDSS file, the 8,000 training rows of the default run) the small
  batch stays, as the networks' defaults were chosen there.
* ``hidden_layers``: three tanh layers of 32 units below :data:`LARGE_SET` rows, of 64 from
  there. On BOSS (seed 0 split, 17,133 training rows) 64-unit layers did better on the
  validation rows (σ_rms 0.0543 against 0.0547, σ_NMAD 0.0192 against 0.0193, outliers
  1.24 % against 1.36 %; ``measured_64`` and ``measured`` in missing_bands.json); on
  ANNz's 4,000 rows the 32-unit default was chosen before, and stays.
* The rule applies to photo-z networks (the evidence is photo-z); the quiescent networks
  keep their defaults.
* Members (five), early stopping (patience 40 epochs) and the committee's width calibration
  do not change with size: early stopping on the validation rows is the regularisation.
"""

from __future__ import annotations

from typing import Any

LARGE_SET = 10_000  # training rows from which a network uses the large batch
SMALL_BATCH, LARGE_BATCH = 32, 256
SMALL_LAYERS: tuple[int, ...] = (32, 32, 32)
LARGE_LAYERS: tuple[int, ...] = (64, 64, 64)


def sized_params(n_rows: int) -> dict[str, Any]:
    """Network parameters for a training set of ``n_rows`` rows (module docstring)."""
    n_rows = int(n_rows)
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    large = n_rows >= LARGE_SET
    return {
        "batch_size": LARGE_BATCH if large else SMALL_BATCH,
        "hidden_layers": LARGE_LAYERS if large else SMALL_LAYERS,
    }
