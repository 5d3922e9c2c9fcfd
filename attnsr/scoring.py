"""Score SR images that already exist (other methods' released outputs) against HR, with ``attnsr
eval``'s protocol, records and reports (``attnsr score --sr DIR --hr DIR``; pyiqa's ``-t/-r`` and
BasicSR's ``calculate_psnr_ssim.py`` do the same job).

Files are matched by name: an SR file belongs to the HR file whose stem it starts with when the rest is
empty or a run of the usual suffixes (``_x4``, ``x4``, ``_SR``, ``_rlt``, ``_out``, ... or the user's
``suffix``); the longest such HR stem wins. The protocol of :mod:`attnsr.eval`: HR modcropped to a
multiple of the scale, SR quantised to 8 bits, ``crop_border = scale``, a grayscale HR scored on one
channel. An SR whose size is not the modcropped HR's is a per-file failure that says what the sizes
suggest (the un-cropped HR, an LR, another scale).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from attnsr.errors import AttnsrError, ConfigError, ImageError
from attnsr.eval import (
    DatasetResult,
    EvalSettings,
    Scorer,
    collect_result,
    dataset_name,
    prepare_metrics,
    score_pair,
)
from attnsr.image.io import list_images, load_image
from attnsr.image.resize import modcrop

#: one trailing token of a released SR file name (case-insensitive), optionally after _ - or .
_TOKEN = r"[_\-.]?(?:x\d+|\d+x|sr|srf_?\d+|rlt|out|output|result|restored|pred|hr)"
_SCALE_TOKEN = re.compile(r"(?i)(?:^|[_\-.])x(\d+)(?=$|[_\-.])|(?:^|[_\-.]|x)(\d+)x(?=$|[_\-.])")


@dataclass(frozen=True)
class Match:
    """SR files paired with HR files, and what could not be paired (name, reason)."""

    pairs: tuple[tuple[Path, Path], ...]
    unmatched: tuple[tuple[str, str], ...]


def _suffix_pattern(suffix: str) -> re.Pattern[str]:
    user = f"(?:{re.escape(suffix)})?" if suffix else ""
    return re.compile(f"(?i){user}(?:{_TOKEN})*")


def match_files(sr_files: Sequence[Path], hr_files: Sequence[Path], suffix: str = "") -> Match:
    """Pair every HR file with the one SR file named after it (see the module docstring)."""
    rest = _suffix_pattern(suffix)
    hr_by_stem = {p.stem: p for p in hr_files}
    by_hr: dict[str, list[Path]] = {}
    unmatched: list[tuple[str, str]] = []
    for sr in sr_files:
        owners = [h for h in hr_by_stem if sr.stem.startswith(h) and rest.fullmatch(sr.stem[len(h):])]
        if not owners:
            unmatched.append((sr.name, "no HR file of that name (after removing suffixes such as _x4, _SR)"))
            continue
        by_hr.setdefault(max(owners, key=len), []).append(sr)
    pairs = []
    for stem, hr in hr_by_stem.items():
        found = by_hr.get(stem, [])
        if not found:
            unmatched.append((hr.name, "no SR file for this HR image"))
        elif len(found) > 1:
            unmatched.append((hr.name, f"several SR files match: {', '.join(p.name for p in found)}"))
        else:
            pairs.append((found[0], hr))
    return Match(tuple(pairs), tuple(unmatched))


def scale_from_names(files: Sequence[Path]) -> int | None:
    """The scale written in the file names (``_x4``, ``4x``) when every file that has one agrees."""
    found = set()
    for p in files:
        m = _SCALE_TOKEN.search(p.stem)
        if m:
            found.add(int(m.group(1) or m.group(2)))
    return found.pop() if len(found) == 1 else None


def explain_size(sr_hw: tuple[int, int], hr_hw: tuple[int, int], scale: int) -> str:
    """Why an SR of size ``sr_hw`` does not fit the HR of size ``hr_hw`` at ``scale`` (one line)."""
    crop = (hr_hw[0] - hr_hw[0] % scale, hr_hw[1] - hr_hw[1] % scale)
    head = (f"SR is {sr_hw[1]}x{sr_hw[0]} (WxH) but the HR {hr_hw[1]}x{hr_hw[0]}, modcropped to a multiple "
            f"of {scale} as the protocol says, is {crop[1]}x{crop[0]}")
    if sr_hw == hr_hw:
        return head + ("; the SR has the un-cropped HR size: pass --modcrop-sr to crop it the same way "
                       "(right/bottom) if its LR came from the whole HR")
    if sr_hw == (crop[0] // scale, crop[1] // scale):
        return head + f"; the SR has the LR size (HR/{scale}): is it an input, not an output?"
    for s in (2, 3, 4, 8):
        if s != scale and sr_hw == (hr_hw[0] - hr_hw[0] % s, hr_hw[1] - hr_hw[1] % s) and crop != sr_hw:
            return head + f"; it matches the HR modcropped for x{s}: is --scale right?"
    return head + f"; difference {sr_hw[0] - crop[0]:+d} rows, {sr_hw[1] - crop[1]:+d} columns"


def score_file(sr_path: Path, hr_path: Path, scale: int, settings: EvalSettings,
               scorers: Mapping[str, Scorer], *, modcrop_sr: bool = False) -> dict:
    """The record of one existing SR file against its HR file (the HR's name, as ``attnsr eval``)."""
    hr_loaded = load_image(hr_path)
    hr = modcrop(hr_loaded.rgb, scale)
    sr = load_image(sr_path).rgb
    sr_hw, hr_hw = tuple(sr.shape[-2:]), tuple(hr_loaded.rgb.shape[-2:])
    if modcrop_sr and sr_hw == hr_hw:
        sr = modcrop(sr, scale)
    if tuple(sr.shape[-2:]) != tuple(hr.shape[-2:]):
        raise ImageError(f"{sr_path.name}: {explain_size(sr_hw, hr_hw, scale)}")  # type: ignore[arg-type]
    record = score_pair(hr_path.name, sr, hr, hr_loaded.gray, scale, settings, scorers)
    return {**record, "sr_file": sr_path.name}


def score_folder(sr_dir: Path, hr_dir: Path, scale: int | None = None, settings: EvalSettings = EvalSettings(),
                 scorers: Mapping[str, Scorer] | None = None, *, suffix: str = "",
                 modcrop_sr: bool = False) -> DatasetResult:
    """Score every SR file of ``sr_dir`` against ``hr_dir``; unmatched and bad files become failures.

    ``scale`` None: read from the SR file names (ConfigError when they do not say). Records carry the
    HR file's name (as ``attnsr eval``) and ``sr_file``.
    """
    sr_files, hr_files = list_images(sr_dir), list_images(hr_dir)
    if scale is None:
        scale = scale_from_names(sr_files)
        if scale is None:
            raise ConfigError(f"{sr_dir}: give --scale (the file names do not say it, and modcrop and the "
                              "border shave depend on it)")
    scorers = dict(scorers) if scorers is not None else prepare_metrics(settings.metrics, settings.metric_options)
    match = match_files(sr_files, hr_files, suffix)
    name = dataset_name(hr_dir)
    records, failures = [], list(match.unmatched)
    for sr_path, hr_path in tqdm(match.pairs, desc=f"{name} x{scale}", unit="img", leave=False,
                                 disable=not settings.progress, file=sys.stderr):
        try:
            records.append(score_file(sr_path, hr_path, scale, settings, scorers, modcrop_sr=modcrop_sr))
        except AttnsrError as exc:
            failures.append((sr_path.name, str(exc)))
    return collect_result(name, scale, "existing", records, failures, settings.metrics, scorers)
