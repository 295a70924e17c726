"""The pipeline report: metrics JSON, PNG figures and one HTML page for a value-added catalogue.

Metrics are computed from the catalogue itself (rows of the ``test`` split when the catalogue
carries one, else every row with a spectroscopic redshift), with the definitions of
:mod:`photcat.models.metrics`, so anyone can recompute them from the published file.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from photcat.features.uvj import DEFAULT_PRESET
from photcat.fileio import atomic_path, write_json
from photcat.models import metrics as M
from photcat.models.predictions import MixturePrediction

MAG_BINS = (14.0, 16.0, 16.5, 17.0, 17.5, 18.0, 19.0, 21.0, 25.0)
Z_BINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 1.0, 2.0)
WIDE = {"photoz_binned.png"}  # figures shown at full page width
MIN_BIN_COUNT = 20  # bins with fewer objects are left out of the binned plot


def evaluation_rows(table: pd.DataFrame) -> np.ndarray:
    """Rows the report evaluates: the test split if present, else all rows with z_spec."""
    sel = np.ones(len(table), dtype=bool)
    if "split" in table:
        sel &= table["split"].to_numpy().astype(str) == "test"
    return sel


def galaxy_rows(table: pd.DataFrame) -> np.ndarray:
    """Rows the catalogue does not classify as a star or QSO: those a galaxy photo-z is
    scored on (the catalogue's QSOs have a split once a class model trains on them)."""
    return ~(_flag(table, "star") | _flag(table, "qso"))


def class_model(meta: dict | None) -> dict | None:
    """The provenance of the catalogue's object-class model (its ``label``, ``classes`` and
    ``galaxy_class``), or None."""
    for m in (meta or {}).get("models") or []:
        if m.get("task") == "class" and m.get("classes"):
            return m
    return None


def catalog_metrics(
    table: pd.DataFrame, arrays: dict[str, np.ndarray], meta: dict | None = None
) -> dict[str, Any]:
    """Photo-z, quiescent and (with ``meta``, the catalogue's provenance, naming a class model
    whose label column the catalogue holds) object-class metrics, and photo-z metrics per
    true class, from a value-added catalogue (docs/definitions.md)."""
    sel = evaluation_rows(table)
    out: dict[str, Any] = {"rows": len(table), "rows_evaluated_from": int(sel.sum())}
    if "photoz_mean" in table and "z_spec" in table:
        z = table["z_spec"].to_numpy(float)
        ok = sel & np.isfinite(z) & np.isfinite(table["photoz_mean"].to_numpy(float))
        ok &= galaxy_rows(table)
        if ok.any():
            pred = MixturePrediction(
                arrays["photoz_weights"][ok], arrays["photoz_means"][ok], arrays["photoz_stds"][ok]
            )
            out["photoz"] = {"rows": int(ok.sum()), **M.photoz_metrics(pred, z[ok])}
            ref = _reference_mag(table)
            if ref is not None:
                out["photoz"]["by_magnitude"] = M.binned_point_metrics(
                    pred.mean(), z[ok], table[ref].to_numpy(float)[ok], MAG_BINS
                )
                out["photoz"]["by_magnitude_band"] = ref
            out["photoz"]["by_redshift"] = M.binned_point_metrics(pred.mean(), z[ok], z[ok], Z_BINS)
    if "p_quiescent" in table and "uvj_quiescent" in table:
        y = table["uvj_quiescent"].to_numpy()
        p = table["p_quiescent"].to_numpy(float)
        at_spec = ~_flag(table, "uvj_at_photoz")
        ok = sel & (y >= 0) & np.isfinite(p) & at_spec
        if ok.any():
            out["quiescent"] = {
                "rows": int(ok.sum()),
                **M.classifier_metrics(y[ok].astype(float), p[ok]),
            }
    cm = class_model(meta)
    if cm is not None and cm.get("label") in table:
        out.update(_class_metrics(table, arrays, sel, cm))
    return out


def _class_metrics(table, arrays, sel, cm: dict) -> dict[str, Any]:
    """``classes``: the class model's metrics on the evaluation rows with a true class;
    ``photoz_by_class``: photo-z metrics of those rows with a redshift, per true class."""
    from photcat.models.predictions import CategoricalPrediction
    from photcat.pipeline.training import class_column_name, class_labels

    truth = class_labels(table, cm["label"])
    probs = np.column_stack([table[class_column_name(c)].to_numpy(float) for c in cm["classes"]])
    ok = sel & (truth != "") & np.isfinite(probs).all(axis=1) & np.isin(truth, cm["classes"])
    out: dict[str, Any] = {}
    if ok.any():
        pred = CategoricalPrediction(probs[ok], tuple(cm["classes"]))
        out["classes"] = {"rows": int(ok.sum()), **M.class_metrics(truth[ok], pred)}
    if "photoz_mean" in table and "z_spec" in table:
        z = table["z_spec"].to_numpy(float)
        has = sel & np.isfinite(z) & np.isfinite(table["photoz_mean"].to_numpy(float))
        by = {}
        for c in cm["classes"]:
            rows = has & (truth == c)
            if rows.sum() >= 2:
                pred = MixturePrediction(
                    arrays["photoz_weights"][rows],
                    arrays["photoz_means"][rows],
                    arrays["photoz_stds"][rows],
                )
                by[c] = {"rows": int(rows.sum()), **M.photoz_metrics(pred, z[rows])}
        if by:
            out["photoz_by_class"] = by
    return out


def _flag(table: pd.DataFrame, name: str) -> np.ndarray:
    from photcat.pipeline.vac import FLAG_BITS

    if "flag_photcat" not in table:
        return np.zeros(len(table), dtype=bool)
    return (table["flag_photcat"].to_numpy() & FLAG_BITS[name]) > 0


def _reference_mag(table: pd.DataFrame) -> str | None:
    for b in ("r", "i", "g", "z"):
        if f"mag_{b}" in table:
            return f"mag_{b}"
    return None


# ------------------------------------------------------------------------------ figures


def _save(fig, path: Path) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name


def make_figures(
    table: pd.DataFrame, arrays: dict, metrics: dict, folder: Path, grid, uvj_preset: str
) -> list[tuple[str, str]]:
    """Write the report's PNG files; returns (file name, caption) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: list[tuple[str, str]] = []
    if "z_spec" in table and "photoz_mean" in table:
        figs += _photoz_figures(plt, table, arrays, metrics, folder, grid)
    figs += _quiescent_figures(plt, table, metrics, folder, uvj_preset)
    return figs + _class_figures(plt, metrics, folder)


def _class_figures(plt, metrics, folder: Path) -> list[tuple[str, str]]:
    """The confusion matrix and per-class reliability of the object-class model."""
    cm = metrics.get("classes")
    if not cm:
        return []
    names = cm["classes"]
    conf = np.asarray(cm["confusion"], dtype=float)
    frac = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.imshow(frac, vmin=0, vmax=1, cmap="Blues")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{int(conf[i, j])}\n{frac[i, j]:.1%}", ha="center", va="center",
                    color="white" if frac[i, j] > 0.5 else "black", fontsize=9)  # fmt: skip
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted class (most probable)", ylabel="true class",
           title=f"accuracy {cm['accuracy']:.4f}, macro F1 {cm['macro_f1']:.4f}")  # fmt: skip
    figs = [
        (
            _save(fig, folder / "class_confusion.png"),
            "Confusion matrix of the object classes on the evaluation rows (the test split when "
            "the catalogue has one, else every row with a class): counts and fraction of each "
            "true class.",
        )
    ]
    fig, ax = plt.subplots(figsize=(5.2, 4))
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    for name in names:
        rel = cm["per_class"][name]["reliability"]
        pred = np.asarray(rel["mean_predicted"], float)
        obs = np.asarray(rel["observed_fraction"], float)
        ax.plot(pred, obs, "o-", label=f"{name} (ECE {rel['ece']:.3f})")
    ax.set(xlabel="predicted P(class)", ylabel="observed fraction of the class",
           xlim=(0, 1), ylim=(0, 1))  # fmt: skip
    ax.legend()
    figs.append(
        (
            _save(fig, folder / "class_reliability.png"),
            "Reliability of each class's probability against the true class (the evaluation "
            "rows of the confusion matrix).",
        )
    )
    return figs


def _photoz_figures(plt, table, arrays, metrics, folder: Path, grid) -> list[tuple[str, str]]:
    """Photo-z scatter, PIT histogram, binned metrics and n(z) of the evaluation rows."""
    figs: list[tuple[str, str]] = []
    sel = evaluation_rows(table)
    z = table["z_spec"].to_numpy(float)
    zp = table["photoz_mean"].to_numpy(float)
    ok = sel & np.isfinite(z) & np.isfinite(zp) & galaxy_rows(table)
    pm = metrics.get("photoz", {})
    fig, ax = plt.subplots(figsize=(5.2, 5))
    hi = float(np.nanpercentile(np.concatenate([z[ok], zp[ok]]), 99.5)) * 1.1 if ok.any() else 1
    ax.hexbin(
        z[ok], zp[ok], gridsize=60, extent=(0, hi, 0, hi), bins="log", cmap="viridis", mincnt=1
    )
    xx = np.linspace(0, hi, 10)
    ax.plot(xx, xx, "w-", lw=1)
    for s in (+1, -1):
        ax.plot(xx, xx + s * 0.15 * (1 + xx), "w--", lw=0.8)
    ax.set(
        xlabel="spectroscopic redshift $z_{spec}$",
        ylabel="photometric redshift $z_{phot}$ (PDF mean)",
        xlim=(0, hi),
        ylim=(0, hi),
        title=f"σ_NMAD = {pm.get('sigma_nmad', np.nan):.4f}, outliers = {pm.get('outlier_fraction', np.nan):.2%}",
    )
    figs.append(
        (
            _save(fig, folder / "photoz_scatter.png"),
            "Photo-z against spectroscopic redshift (test split); dashed: |Δz|/(1+z) = 0.15.",
        )
    )

    w, mu, sd = (
        arrays["photoz_weights"][ok],
        arrays["photoz_means"][ok],
        arrays["photoz_stds"][ok],
    )
    pit = M.pit(MixturePrediction(w, mu, sd), z[ok]) if ok.any() else np.array([])
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.hist(pit, bins=20, range=(0, 1), density=True, color="tab:blue", alpha=0.8)
    ax.axhline(1.0, color="k", ls="--", lw=1)
    ax.set(
        xlabel="PIT = CDF(z_spec)",
        ylabel="density",
        title=f"PIT (KS = {pm.get('pit_ks', np.nan):.3f})",
    )
    figs.append(
        (
            _save(fig, folder / "pit.png"),
            "Probability integral transform: flat when the PDFs are calibrated.",
        )
    )

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key, xlabel in (
        (axes[0], "by_magnitude", f"{pm.get('by_magnitude_band', 'mag_r')} [AB mag]"),
        (axes[1], "by_redshift", "spectroscopic redshift"),
    ):
        rows = [r for r in pm.get(key, []) if r.get("count", 0) >= MIN_BIN_COUNT]
        if rows:
            centres = [(r["lo"] + r["hi"]) / 2 for r in rows]
            ax.plot(centres, [r["sigma_nmad"] for r in rows], "o-", label="σ_NMAD")
            ax.plot(centres, [r["outlier_fraction"] for r in rows], "s--", label="outlier fraction")
        ax.set(xlabel=xlabel, ylabel="value (dimensionless)")
        ax.legend()
    figs.append(
        (
            _save(fig, folder / "photoz_binned.png"),
            f"σ_NMAD and outlier fraction in bins of magnitude and redshift (bins with ≥ {MIN_BIN_COUNT} objects).",
        )
    )

    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    bins = np.linspace(0, hi, 40)
    ax.hist(z[ok], bins=bins, histtype="step", lw=1.5, color="k", label="z_spec", density=True)
    ax.hist(zp[ok], bins=bins, histtype="step", lw=1.2, label="photo-z mean", density=True)
    if "photoz_pdf" in arrays and grid is not None:
        zg = np.linspace(*grid[:2], int(grid[2]))
        # cell probabilities -> density: divide by the grid step (the outer cells are open,
        # so their values hold the probability beyond the grid too)
        stack = np.nanmean(arrays["photoz_pdf"][ok], axis=0) / (zg[1] - zg[0])
        ax.plot(zg, stack, lw=1.2, label="stacked PDF")
    ax.set(xlabel="redshift", ylabel="n(z) (normalised)", xlim=(0, hi))
    ax.legend()
    figs.append(
        (
            _save(fig, folder / "nz.png"),
            "Redshift distribution: truth, point estimates and stacked PDFs.",
        )
    )
    return figs


def _quiescent_figures(plt, table, metrics, folder: Path, uvj_preset) -> list[tuple[str, str]]:
    """The UVJ plane coloured by P(quiescent) and the reliability diagram."""
    figs: list[tuple[str, str]] = []
    if "uv" in table and "p_quiescent" in table:
        from photcat.features.plots import plot_uvj

        uv, vj, p = (table[c].to_numpy(float) for c in ("uv", "vj", "p_quiescent"))
        ok = np.isfinite(uv) & np.isfinite(vj) & np.isfinite(p)
        zmed = float(np.nanmedian(table["uvj_z"].to_numpy(float)[ok])) if ok.any() else 0.1
        fig = plot_uvj(
            uv[ok], vj[ok], z=zmed, color=p[ok], color_label="P(quiescent)", uvj_preset=uvj_preset
        )
        figs.append(
            (
                _save(fig, folder / "uvj.png"),
                f"Rest-frame UVJ plane coloured by P(quiescent); {uvj_preset} boundary at z = {zmed:.2f}.",
            )
        )

    rel = metrics.get("quiescent", {}).get("reliability")
    if rel:
        fig, ax = plt.subplots(figsize=(5.2, 4))
        pred = np.asarray(rel["mean_predicted"], float)
        obs = np.asarray(rel["observed_fraction"], float)
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.plot(pred, obs, "o-")
        ax.set(
            xlabel="predicted P(quiescent)",
            ylabel="observed quiescent fraction (UVJ label)",
            xlim=(0, 1),
            ylim=(0, 1),
        )
        figs.append(
            (
                _save(fig, folder / "reliability.png"),
                "Reliability of P(quiescent) against the UVJ label (test split).",
            )
        )
    return figs


# ------------------------------------------------------------------------------ page


def make_report(
    catalog: Path,
    folder: Path,
    *,
    evaluations: list[dict] | None = None,
    uvj_preset: str = DEFAULT_PRESET,
    provenance: dict | None = None,
) -> dict:
    """Write ``metrics.json``, the PNG figures and ``index.html`` (last, atomically) to ``folder``."""
    from photcat.pipeline.stream import read_output

    table, arrays, meta = read_output(catalog)  # read first: a bad catalogue creates nothing
    folder.mkdir(parents=True, exist_ok=True)
    metrics = catalog_metrics(table, arrays, meta)
    metrics["catalog"] = str(catalog)
    metrics["evaluations"] = evaluations or []
    metrics["provenance"] = provenance or {}
    figs = make_figures(table, arrays, metrics, folder, meta.get("pdf_grid"), uvj_preset)
    write_json(folder / "metrics.json", metrics)
    page = _html(catalog, table, metrics, figs, meta)
    with atomic_path(folder / "index.html") as tmp:
        tmp.write_text(page)
    return metrics


def headline(metrics: dict) -> dict[str, float]:
    """The few numbers printed at the end of a run."""
    pz, q = metrics.get("photoz", {}), metrics.get("quiescent", {})
    keys = {
        "sigma_nmad": pz,
        "outlier_fraction": pz,
        "sigma_rms": pz,
        "bias_mean": pz,
        "coverage_68": pz,
        "pit_ks": pz,
    }
    out = {f"photoz_{k}": float(src[k]) for k, src in keys.items() if k in src}
    for k in ("accuracy", "roc_auc", "brier"):
        if q.get(k) is not None:
            out[f"quiescent_{k}"] = float(q[k])
    c = metrics.get("classes", {})
    for k in ("accuracy", "macro_f1", "log_loss", "brier", "ece_max"):
        if c.get(k) is not None:
            out[f"class_{k}"] = float(c[k])
    return out


def _html(catalog: Path, table: pd.DataFrame, metrics: dict, figs, meta: dict) -> str:
    head = headline(metrics)
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in head.items())
    pictures = "".join(
        f'<figure class="{"wide" if f in WIDE else ""}"><img src="{html.escape(f)}" alt="{html.escape(c)}">'
        f"<figcaption>{html.escape(c)}</figcaption></figure>"
        for f, c in figs
    )
    prov = html.escape(
        json.dumps(
            {k: meta.get(k) for k in ("photcat_version", "input_sha256", "schema", "pdf_grid")},
            indent=1,
        )
    )
    n_eval = metrics.get("photoz", {}).get("rows", 0)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>photcat report: {html.escape(catalog.name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td{{border:1px solid #ccc;padding:4px 10px}}
figure{{display:inline-block;margin:10px;vertical-align:top;max-width:520px}}img{{max-width:100%}}
figure.wide{{max-width:1060px}}
figcaption{{font-size:0.9em;color:#555}}pre{{background:#f6f6f6;padding:8px}}</style></head>
<body><h1>photcat value-added catalogue</h1>
<p>Catalogue: <code>{html.escape(str(catalog))}</code> &mdash; {len(table):,} rows;
metrics on {n_eval:,} test-split objects with spectroscopic redshifts.</p>
<h2>Headline metrics</h2><table>{rows}</table>
<h2>Figures</h2>{pictures}
<h2>Provenance</h2><pre>{prov}</pre>
<p>All metrics: <a href="metrics.json">metrics.json</a></p></body></html>
"""
