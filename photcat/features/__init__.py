"""Features for photcat's models: colours and magnitudes, rest-frame U, V, J, UVJ labels.

* :class:`FeatureSpec` / :func:`build` – photometric feature matrices with a flag policy
* :func:`fit_restframe` – rest-frame U, V, J and U−V, V−J from kcorrect template fits
* :mod:`photcat.features.uvj` – UVJ boundary presets (:data:`UVJ_PRESETS`), signed distances
* :func:`uvj_label`, :func:`ssfr_label` – quiescent labels
* :func:`photcat.features.plots.plot_uvj` – the UVJ-plane figure (imports matplotlib)

kcorrect and matplotlib are imported only when used.
"""

from photcat.features.labels import Label, log_ssfr_threshold, ssfr_label, uvj_label
from photcat.features.restframe import fit_restframe, kcorrect_model
from photcat.features.spec import Features, FeatureSpec, build
from photcat.features.uvj import PRESETS as UVJ_PRESETS
from photcat.features.uvj import uvj_distance, uvj_quiescent

__all__ = [
    "UVJ_PRESETS",
    "FeatureSpec",
    "Features",
    "Label",
    "build",
    "fit_restframe",
    "kcorrect_model",
    "log_ssfr_threshold",
    "ssfr_label",
    "uvj_distance",
    "uvj_label",
    "uvj_quiescent",
]
