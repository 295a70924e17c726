"""UVJ presets against an independent sSFR label on ZFOURGE (real rest-frame U−V, V−J).

Run from the repository root::

    .venv/bin/python benchmarks/uvj_agreement.py

Reads ``../shared/data/zfourge_uvj/zfourge_v3.4_restframe_uvj.csv.gz`` (skips with a message if
absent). Cleaning: ``nfilt_fit >= 5``, finite ``z > 0``, finite U−V and V−J. sSFR truths:

* ``fast``  – FAST log sSFR [1/yr] (``lssfr``), the main truth. ``lssfr = -99`` with a valid
  mass is FAST's zero-SFR fit: kept as log sSFR = −inf (quiescent; counted); ``lmass <= 0``
  (failed fits) dropped;
* ``uvir``  – log10(SFR_UVIR / 10**lmass) where ``SFR_UVIR > 0`` (−99 = off the far-IR footprint;
  non-positive values from negative 24 µm fluxes are dropped as well — counted).

Thresholds: ``age`` (log sSFR < log10 1/(3 t_U(z)), t_U the age of the Universe, Planck18) and fixed −11 and −10.
For each preset: fraction called quiescent, and confusion matrix (quiescent = positive) vs the
sSFR label, accuracy, purity (precision) and completeness (recall), overall and in bins of
redshift and stellar mass. Writes ``benchmarks/results/uvj_agreement.json``,
``benchmarks/results/uvj_agreement.md`` (tables for docs/uvj.md) and ``docs/uvj_plane.png``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from photcat.features import labels, uvj

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PHOTCAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
FILE = DATA / "zfourge_uvj" / "zfourge_v3.4_restframe_uvj.csv.gz"
RESULTS = ROOT / "benchmarks" / "results"
PRESET_NAMES = ("williams09", "whitaker11", "muzzin13", "line")
ZBINS = [(0.0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 10.0)]
MBINS = [(-np.inf, 10.0), (10.0, 10.5), (10.5, 11.0), (11.0, np.inf)]
THRESHOLDS: dict[str, float | str] = {"age": "age", "fixed-11": -11.0, "fixed-10": -10.0}


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def load() -> tuple[pd.DataFrame, dict[str, int]]:
    d = pd.read_csv(FILE)
    counts = {"rows": len(d)}
    keep = (d.nfilt_fit >= 5) & np.isfinite(d.z) & (d.z > 0) & np.isfinite(d.UV) & np.isfinite(d.VJ)
    counts["clean"] = int(keep.sum())
    d = d[keep].reset_index(drop=True)
    # FAST writes log SFR = -99 when its best model has SFR = 0: with a valid mass that is a
    # zero-SFR (quiescent) fit, kept as log sSFR = -inf; rows with lmass <= 0 failed.
    fast_ok = d.lmass > 0
    fast_zero = fast_ok & (d.lssfr <= -90)
    d["lssfr_fast"] = np.where(fast_ok, np.where(fast_zero, -np.inf, d.lssfr), np.nan)
    counts["fast_zero_sfr"] = int(fast_zero.sum())
    counts["fast_zero_sfr_uvj_quiescent_williams09"] = float(
        uvj.uvj_quiescent(d.UV[fast_zero], d.VJ[fast_zero], d.z[fast_zero], "williams09").mean()
    )
    uvir_ok = (d.SFR_UVIR > 0) & (d.lmass > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        d["lssfr_uvir"] = np.where(uvir_ok, np.log10(d.SFR_UVIR) - d.lmass, np.nan)
    counts["fast_valid"] = int(fast_ok.sum())
    counts["uvir_valid"] = int(uvir_ok.sum())
    counts["uvir_minus99"] = int((d.SFR_UVIR == -99).sum())
    counts["uvir_nonpositive_other"] = int(((d.SFR_UVIR <= 0) & (d.SFR_UVIR != -99)).sum())
    return d, counts


def _mlabel(lo: float, hi: float) -> str:
    if not np.isfinite(lo):
        return f"<{hi:g}"
    if not np.isfinite(hi):
        return f">{lo:g}"
    return f"{lo:g}-{hi:g}"


def confusion(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())
    tn = int((~pred & ~truth).sum())
    n = tp + fp + fn + tn
    return {
        "n": n,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "frac_q_uvj": (tp + fp) / n if n else float("nan"),
        "frac_q_ssfr": (tp + fn) / n if n else float("nan"),
        "accuracy": (tp + tn) / n if n else float("nan"),
        "purity": tp / (tp + fp) if tp + fp else float("nan"),
        "completeness": tp / (tp + fn) if tp + fn else float("nan"),
    }


def analyse(d: pd.DataFrame) -> dict:
    out: dict = {"presets": {}}
    for name in PRESET_NAMES:
        lab = labels.uvj_label(d.UV.to_numpy(), d.VJ.to_numpy(), d.z.to_numpy(), name)
        res = {"frac_quiescent_all": float(lab.quiescent.mean()), "truths": {}}
        res["frac_quiescent_by_z"] = {
            f"{lo:g}-{hi:g}": float(lab.quiescent[(d.z >= lo) & (d.z < hi)].mean())
            for lo, hi in ZBINS
        }
        for truth in ("fast", "uvir"):
            s = d[f"lssfr_{truth}"].to_numpy()
            for tname, thr in THRESHOLDS.items():
                sl = labels.ssfr_label(s, d.z.to_numpy(), thr)
                ok = sl.defined & lab.defined
                entry = {"overall": confusion(lab.quiescent[ok], sl.quiescent[ok])}
                entry["by_z"] = {
                    f"{lo:g}-{hi:g}": confusion(
                        lab.quiescent[ok & (d.z >= lo) & (d.z < hi)],
                        sl.quiescent[ok & (d.z >= lo) & (d.z < hi)],
                    )
                    for lo, hi in ZBINS
                }
                entry["by_mass"] = {
                    _mlabel(lo, hi): confusion(
                        lab.quiescent[ok & (d.lmass >= lo) & (d.lmass < hi)],
                        sl.quiescent[ok & (d.lmass >= lo) & (d.lmass < hi)],
                    )
                    for lo, hi in MBINS
                }
                res["truths"][f"{truth}/{tname}"] = entry
        out["presets"][name] = res
    return out


def _fmt(c: dict) -> str:
    return (
        f"| {c['n']:,} | {c['frac_q_uvj']:.3f} | {c['frac_q_ssfr']:.3f} | "
        f"{c['tp']:,} / {c['fp']:,} / {c['fn']:,} / {c['tn']:,} | {c['accuracy']:.3f} | "
        f"{c['purity']:.3f} | {c['completeness']:.3f} |"
    )


HEAD = (
    "| preset | N | f_Q (UVJ) | f_Q (sSFR) | TP / FP / FN / TN | accuracy | purity | completeness |\n"
    "|---|---|---|---|---|---|---|---|"
)


def markdown(res: dict, counts: dict) -> str:
    lines = [
        f"ZFOURGE rows: {counts['rows']:,}; clean (nfilt_fit ≥ 5, finite z > 0, finite colours): "
        f"{counts['clean']:,}; with valid FAST sSFR: {counts['fast_valid']:,} (of which "
        f"{counts['fast_zero_sfr']:,} FAST zero-SFR fits, lssfr = −99, taken as quiescent; "
        f"{counts['fast_zero_sfr_uvj_quiescent_williams09']:.0%} of them are Williams+09 "
        f"UVJ-quiescent); with SFR_UVIR > 0: "
        f"{counts['uvir_valid']:,} (−99: {counts['uvir_minus99']:,}, other ≤ 0: "
        f"{counts['uvir_nonpositive_other']:,}).",
        "",
        "### Fraction called quiescent (all clean rows)",
        "",
        "| preset | all | " + " | ".join(f"{lo:g}–{hi:g}" for lo, hi in ZBINS) + " |",
        "|---|---|" + "---|" * len(ZBINS),
    ]
    for name, r in res["presets"].items():
        lines.append(
            f"| {name} | {r['frac_quiescent_all']:.3f} | "
            + " | ".join(f"{v:.3f}" for v in r["frac_quiescent_by_z"].values())
            + " |"
        )
    for key, title in (
        ("fast/age", "FAST sSFR, threshold 1/(3 t_U(z)) — main comparison"),
        ("uvir/age", "UV+IR sSFR, threshold 1/(3 t_U(z))"),
        ("fast/fixed-11", "FAST sSFR, fixed threshold −11"),
        ("fast/fixed-10", "FAST sSFR, fixed threshold −10"),
    ):
        lines += ["", f"### Agreement with the sSFR label: {title} (overall)", "", HEAD]
        for name, r in res["presets"].items():
            lines.append(f"| {name} " + _fmt(r["truths"][key]["overall"]))
    for key in ("fast/age",):
        for part in ("by_z", "by_mass"):
            what = "redshift" if part == "by_z" else "log stellar mass [M☉]"
            lines += ["", f"### {key}: in bins of {what}", ""]
            lines.append(
                HEAD.replace("| preset |", "| preset | bin |").replace("|---|", "|---|---|", 1)
            )
            for name, r in res["presets"].items():
                for b, c in r["truths"][key][part].items():
                    lines.append(f"| {name} | {b} " + _fmt(c))
    return "\n".join(lines) + "\n"


def plot(d: pd.DataFrame, path: Path) -> None:
    from photcat.features.plots import plot_uvj

    sel = d.z < 3
    fig = plot_uvj(
        d.UV[sel],
        d.VJ[sel],
        d.z[sel],
        uvj_preset="williams09",
        color=d.lssfr_fast[sel],
        color_label="median FAST log sSFR [1/yr]",
        zbins=[0.0, 0.5, 1.0, 2.0, 3.0],
        gridsize=40,
        vmin=-11.5,
        vmax=-8.5,
        panel_size=3.0,
        title="ZFOURGE v3.4 rest-frame UVJ (Williams+09 boundary at each bin's median z)",
    )
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    os.replace(tmp, path)


def main() -> int:
    if not FILE.exists():
        print(f"skipped: {FILE} is absent (set PHOTCAT_SHARED_DATA)")
        return 0
    t0 = time.perf_counter()
    d, counts = load()
    res = analyse(d)
    res["counts"] = counts
    res["source"] = str(FILE)
    res["config"] = {
        "presets": list(PRESET_NAMES),
        "zbins": ZBINS[:-1] + [(3.0, 10.0)],
        "mass_bins": [[float(a), float(b)] for a, b in MBINS],
        "thresholds": {k: v for k, v in THRESHOLDS.items()},
        "cosmology": "Planck18",
    }
    import photcat

    res["versions"] = {
        "photcat": photcat.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }
    res["seconds"] = time.perf_counter() - t0
    RESULTS.mkdir(parents=True, exist_ok=True)
    _atomic_write(RESULTS / "uvj_agreement.json", json.dumps(res, indent=1, default=float))
    _atomic_write(RESULTS / "uvj_agreement.md", markdown(res, counts))
    plot(d, ROOT / "docs" / "uvj_plane.png")
    print(markdown(res, counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
