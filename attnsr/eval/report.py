"""Report writers of an evaluation: markdown tables (metrics, spectrum bands), per-image CSV, JSON and
the spectrum files; they only read :class:`DatasetResult` objects."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from attnsr.eval.protocol import DatasetResult
from attnsr.eval.scorers import METRICS


def format_table(results: Sequence[DatasetResult], metrics: Sequence[str], title: str = "") -> str:
    """A markdown table like the papers': one row per dataset, one column per scale, cells
    ``PSNR / SSIM`` (the chosen metrics joined by " / "); unavailable metrics show ``n/a`` and their
    reason under the table."""
    scales = sorted({r.scale for r in results})
    datasets = list(dict.fromkeys(r.dataset for r in results))
    by_key = {(r.dataset, r.scale): r for r in results}
    labels = " / ".join(METRICS[m].label for m in metrics)
    lines = [f"| {title or 'Dataset'} ({labels}) | " + " | ".join(f"x{s}" for s in scales) + " |",
             "|---|" + "---|" * len(scales)]
    for d in datasets:
        cells = []
        for s in scales:
            r = by_key.get((d, s))
            cells.append("-" if r is None else " / ".join(_fmt(METRICS[m].key, r.means[METRICS[m].key])
                                                          for m in metrics))
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    reasons = {k: why for r in results for k, why in r.unavailable.items()}
    lines += [f"\n{_label_of(k)} n/a: {why}" for k, why in reasons.items()]
    return "\n".join(lines)


def _label_of(key: str) -> str:
    return next(m.label for m in METRICS.values() if m.key == key)


def _fmt(key: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if key.startswith("ssim") or key == "lpips":
        return f"{value:.4f}"
    return f"{value:.2f}"


def format_spectrum_table(results: Sequence[DatasetResult], title: str = "") -> str:
    """Markdown: energy recovered per band (and SR/HR energy ratio) for every dataset and scale."""
    lines = [f"| {title or 'Dataset'}: energy recovered (SR/HR energy) | scale | low | mid | high |",
             "|---|---|---|---|---|"]
    for r in results:
        if r.spectrum is None:
            continue
        cells = [f"{100 * float(rec):.1f}% ({float(q):.2f})"
                 for rec, q in zip(r.spectrum.recovered, r.spectrum.energy_ratio)]
        lines.append(f"| {r.dataset} | x{r.scale} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_spectra(folder: Path, results: Sequence[DatasetResult], label: str, *, plot: bool = True) -> list[Path]:
    """Per dataset and scale: ``<dataset>_x<s>.csv`` (bands), ``..._profile.csv`` and, with matplotlib,
    ``<dataset>_x<s>.png`` (radial profiles of HR, SR and the error). Returns the files written."""
    from attnsr.metrics.spectrum import plot_spectrum, write_spectrum_csv

    written: list[Path] = []
    for r in results:
        if r.spectrum is None:
            continue
        stem = folder / f"{r.dataset}_x{r.scale}"
        written.append(write_spectrum_csv(stem.with_suffix(".csv"), {label: r.spectrum}))
        written.append(stem.with_name(f"{stem.name}_profile.csv"))
        if plot:
            written.append(plot_spectrum(stem.with_suffix(".png"), {label: r.spectrum},
                                         title=f"{r.dataset} x{r.scale}: {label}"))
    return written


def write_csv(path: Path, results: Sequence[DatasetResult], metrics: Sequence[str]) -> None:
    """Per-image rows: dataset, scale, name, one column per metric key (full precision; empty = n/a)."""
    keys = [METRICS[m].key for m in metrics]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dataset", "scale", "name", *keys])
        for r in results:
            for rec in r.images:
                writer.writerow([r.dataset, r.scale, rec["name"],
                                 *("" if rec[k] is None else repr(rec[k]) for k in keys)])


def write_json(path: Path, results: Sequence[DatasetResult], method: str) -> None:
    """One dataset and scale: the result object itself; several: ``{"method", "results": [...]}``."""
    payload = ({**results[0].to_json(), "method": method} if len(results) == 1
               else {"method": method, "results": [r.to_json() for r in results]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
