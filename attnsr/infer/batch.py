"""Upscale many images with one :class:`~attnsr.infer.engine.Upscaler`: what ``attnsr upscale`` does.

``upscale_batch(engine, ["photos/", "*.jpg"], BatchOptions(output=Path("out")))`` expands files, folders
and glob patterns, plans one output per input (``<name>_x<scale>.<ext>``, never replacing an input, two
inputs never writing the same file), checks memory, size limits and writability, keeps or skips existing
outputs as asked, and upscales the images one by one: a bad file is recorded and the others are still
processed. Outputs are written atomically. The :class:`BatchResult` lists what was written, skipped and
failed (with its message).

Messages (notes on format changes, errors of single images) go to ``on_message(level, text)`` with
``level`` one of ``"error"``, ``"note"``, ``"info"``; progress goes to an optional ``progress`` factory
(:class:`Progress`), so a caller draws bars its own way (the command line: tqdm).
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from attnsr.errors import AttnsrError, ConfigError, ImageError
from attnsr.infer.output import check_outscale, fit_format, output_name, output_suffix, scale_label, upscale_to

if TYPE_CHECKING:
    from attnsr.infer.engine import Upscaler

#: resident bytes per LR pixel of an upscale besides the network's activations: decoded samples, float
#: planes, the output buffer (per SR pixel) and allocator slack. Measured: 2000x2000 RGB PNG, x2, bundled
#: model, --tile 128: 742 MB peak RSS vs 288 MB for 200x200 (117 B per LR pixel).
FIXED_BYTES_PER_PX = 64
OUTPUT_BYTES_PER_SR_PX = 14
NOTE_BYTES = 2 << 30


@dataclass(frozen=True)
class BatchOptions:
    """Where and how the outputs of a batch are written (the command line's flags of the same names).

    ``output``: a folder, or a file name for a single input (None: beside each input). ``suffix``: the
    name tag (None: ``x<scale>``; ``""``: the input's name). ``ext``: ``auto`` (keep the input's format
    where it can be written), ``png``, ``jpg`` or ``webp``. ``outscale``: output factor (None: the model's
    scale). ``compare``: also write ``<name>_compare.png`` (bicubic | model).
    """

    output: Path | None = None
    suffix: str | None = None
    ext: str = "auto"
    outscale: float | None = None
    quality: int = 95
    png_compression: int = 1
    overwrite: bool = False
    skip_existing: bool = False
    compare: bool = False
    max_pixels: int = 200_000_000


@dataclass
class BatchResult:
    """What a batch did: ``written`` (input, output) pairs, ``skipped`` inputs (existing outputs kept),
    ``failures`` (input as given, message), ``notes`` of the planning, and ``total`` inputs counted."""

    written: list[tuple[Path, Path]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures


class Progress(Protocol):
    """A progress-bar factory: a context manager whose value is ``update(n)``. ``total`` None: unknown
    ahead (crops of an official chop); ``hidden``: the bar would show nothing useful (one step)."""

    def __call__(self, *, total: int | None, desc: str, unit: str, leave: bool,
                 hidden: bool) -> AbstractContextManager[Callable[[int], object]]: ...


Message = Callable[[str, str], object]


@contextmanager
def _no_progress(**_: object) -> Iterator[Callable[[int], object]]:
    yield lambda _n: None


def _ignore(_level: str, _text: str) -> None:
    return None


def expand_inputs(items: Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """Files, folders (their image files, sorted) and globs -> (paths, error lines for items that match nothing)."""
    # imported here: attnsr.image.io loads torch, and the CLI imports this module before it sets threads
    from attnsr.image.io import IMAGE_SUFFIXES

    paths: list[Path] = []
    errors: list[str] = []
    for raw in items:
        item = str(raw)
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not found:
                errors.append(f"{p}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            paths += found
        elif any(c in item for c in "*?[") and not p.exists():
            found = sorted(Path(f) for f in glob.glob(item) if Path(f).suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                errors.append(f"{item}: pattern matches no images")
            paths += found
        else:
            paths.append(p)  # missing files are reported by the loader, one line each
    return paths, errors


def output_file(options: BatchOptions) -> Path | None:
    """``output`` when it names a file (it has a suffix and is no existing folder), else None (a folder).

    A file name must have a writable image suffix that agrees with ``ext``; it takes exactly one input."""
    out = options.output
    if out is None or out.is_dir() or not out.suffix:
        return None
    from attnsr.image.io import WRITE_FORMATS

    if out.suffix.lower() not in WRITE_FORMATS:
        raise ConfigError(f"-o {out}: unsupported output format {out.suffix!r} (use one of "
                          f"{', '.join(sorted(WRITE_FORMATS))}, or a folder name without a suffix)")
    if options.ext != "auto" and WRITE_FORMATS.get(out.suffix.lower()) != WRITE_FORMATS.get(f".{options.ext}"):
        raise ConfigError(f"{out}: the file name says {out.suffix}, --ext says {options.ext}")
    return out


def output_path(options: BatchOptions, src: Path, scale: float) -> Path:
    """The file ``src``'s output is written to at output factor ``scale`` (before collision renaming)."""
    single = output_file(options)
    if single is not None:
        return single
    out: Path = options.output if options.output is not None else src.parent
    target = out / output_name(src, scale_label=scale_label(scale), suffix=options.suffix, ext=options.ext)
    if target.resolve() == src.resolve():
        raise ConfigError(f"{target}: the output would replace its input (give --suffix or -o)")
    return target


def plan_outputs(options: BatchOptions, paths: list[Path],
                 scale: float) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(input, output) pairs and notes for the user. Outputs never replace an input, two inputs never
    write the same file (``a.webp`` and ``a.tif`` -> ``a-webp_x2.png``, ``a-tif_x2.png``, announced), and
    when ``output`` is an input folder the earlier outputs found there (``a_x2.png`` beside ``a.png``) are
    not upscaled again."""
    single = output_file(options)
    if single is not None and len(paths) > 1:
        raise ConfigError(f"-o {options.output}: names one file but {len(paths)} inputs were given; "
                          "give a folder for several inputs")
    notes: list[str] = []
    made_by = {output_path(options, q, scale).resolve(): q for q in paths}
    earlier = [p for p in paths if made_by.get(p.resolve(), p) is not p]
    if earlier:
        notes.append(f"{len(earlier)} file(s) that are this run's outputs of other inputs left out "
                     f"(e.g. {earlier[0]})")
        paths = [p for p in paths if p not in earlier]
    names = {p.resolve() for p in paths}
    targets = [output_path(options, p, scale) for p in paths]
    counts: dict[Path, int] = {}
    for t in targets:
        counts[t.resolve()] = counts.get(t.resolve(), 0) + 1
    pairs = []
    for src, target in zip(paths, targets):
        if counts[target.resolve()] > 1 and single is None:
            renamed = target.with_name(f"{src.stem}-{src.suffix.lstrip('.').lower()}{target.name[len(src.stem):]}")
            notes.append(f"{src}: another input has the same name; writing {renamed.name}")
            target = renamed
        if target.resolve() in names:
            raise ConfigError(f"{target}: is one of the inputs; an output never replaces an input "
                              "(choose another -o)")
        pairs.append((src, target))
    return pairs, notes


def check_memory(src: Path, width: int, height: int, scale: int, available: int) -> str | None:
    """A note when upscaling a ``width``x``height`` image needs much memory; ImageError when it needs
    more than is ``available`` (it would swap or be killed half-way)."""
    need = width * height * (FIXED_BYTES_PER_PX + OUTPUT_BYTES_PER_SR_PX * scale * scale)
    if need > available:
        raise ImageError(f"{src}: {width}x{height} ({width * height / 1e6:.0f} MP) at x{scale} needs about "
                         f"{need / 2**30:.1f} GiB of memory, {available / 2**30:.1f} GiB are available "
                         "(split the image, or free memory)")
    if need > NOTE_BYTES:
        return (f"{src}: {width}x{height} ({width * height / 1e6:.0f} MP) at x{scale}: this needs about "
                f"{need / 2**30:.1f} GiB of memory")
    return None


def check_writable(folder: Path) -> None:
    """Fail before any work when ``folder`` cannot receive files (created if missing)."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".attnsr-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{folder}: output folder is not writable ({exc.strerror or exc})") from None


def check_batch(inputs: Sequence[str | Path], options: BatchOptions) -> None:
    """Every check that needs no model: conflicting options, an unknown ``ext``, a bad output file
    name, an output folder that cannot be written. ConfigError before any work (and before a model is
    loaded, when called first)."""
    if options.overwrite and options.skip_existing:
        raise ConfigError("--overwrite and --skip-existing exclude each other")
    if options.output is None and any(Path(i).is_dir() or any(c in str(i) for c in "*?[") for i in inputs):
        raise ConfigError("give -o OUT for folders and patterns (outputs beside the inputs would be "
                          "picked up as inputs on the next run)")
    check_outscale(options.outscale)
    output_suffix(Path("x.png"), options.ext)  # an unknown ext: one error line before any work
    single = output_file(options)
    if options.output is not None:
        check_writable(options.output.parent if single is not None else options.output)


def upscale_batch(engine: Upscaler, inputs: Sequence[str | Path], options: BatchOptions | None = None, *,
                  label: str = "attnsr", on_message: Message | None = None,
                  progress: Progress | None = None) -> BatchResult:
    """Upscale every image that ``inputs`` (files, folders, glob patterns) name with ``engine``.

    Errors of the whole batch (conflicting options, an output that would replace an input, an unwritable
    folder) raise ConfigError before any image is written; errors of one image are recorded in the result
    (and sent to ``on_message("error", ...)``) and the others are still processed. ``label`` captions the
    model's panel of the ``compare`` figure."""
    opts = options or BatchOptions()
    say = on_message or _ignore
    bars: Progress = progress or _no_progress
    check_batch(inputs, opts)
    result = BatchResult()
    paths, unmatched = expand_inputs(inputs)
    pairs, notes = plan_outputs(opts, paths, opts.outscale or engine.scale)
    result.notes = notes
    result.total = len(pairs) + len(unmatched)
    for line in unmatched:
        say("error", line)
        result.failures.append((line.split(":", 1)[0], line))
    for line in notes:
        say("note", line)
    if opts.output is None:
        for folder in sorted({t.parent for _, t in pairs}):
            check_writable(folder)
    with bars(total=len(pairs), desc="images", unit="img", leave=True, hidden=len(pairs) < 2) as step:
        for src, target in pairs:
            try:
                if _upscale_one(engine, src, target, opts, label, say, bars):
                    result.written.append((src, target))
                    if len(pairs) < 2:
                        say("info", f"{src} -> {target}")
                else:
                    result.skipped.append(src)
            except AttnsrError as exc:
                say("error", str(exc))
                result.failures.append((str(src), str(exc)))
            except (OSError, MemoryError) as exc:
                say("error", f"{src}: {exc}")
                result.failures.append((str(src), f"{src}: {exc}"))
            finally:
                step(1)
    return result


def _upscale_one(engine: Upscaler, src: Path, target: Path, opts: BatchOptions, label: str, say: Message,
                 bars: Progress) -> bool:
    """Upscale ``src`` into ``target``; False when an existing output is kept (``skip_existing``)."""
    from attnsr.image.io import image_size, load_image, save_array
    from attnsr.infer.engine import available_memory  # the engine's name: its tile budget reads the same
    from attnsr.infer.resolve import CountingChop

    if target.exists() and not opts.overwrite:
        if opts.skip_existing:
            return False
        raise ConfigError(f"{target}: exists (use --overwrite or --skip-existing)")
    width, height = image_size(src, max_pixels=opts.max_pixels)
    if width * height > opts.max_pixels:
        raise ImageError(f"{src}: {width}x{height} = {width * height} pixels exceeds --max-pixels "
                         f"{opts.max_pixels}")
    if engine.device.type == "cpu":
        big = check_memory(src, width, height, engine.scale, available_memory(engine.device))
        if big:
            say("note", big)
    img = load_image(src, max_pixels=opts.max_pixels)
    for note in img.notes:
        say("note", note)
    array = img.as_array()
    del img  # its float planes are not needed any more (12 bytes per pixel)
    if array.ndim == 3 and array.shape[-1] in (2, 4) and target.suffix.lower() in (".jpg", ".jpeg"):
        say("note", f"{target}: JPEG has no alpha channel; {src}'s transparency is dropped "
                    "(use --format png to keep it)")
    h, w = array.shape[:2]
    if isinstance(engine.chop, CountingChop):  # the official chop: crops counted as they finish
        with bars(total=None, desc=f"{src.name} (chop)", unit="crop", leave=False, hidden=False) as crops:
            engine.chop.progress = crops
            sr = upscale_to(engine, array, opts.outscale)
    else:
        n_tiles = engine.count_tiles(h, w)
        with bars(total=n_tiles, desc=src.name, unit="tile", leave=False, hidden=n_tiles < 2) as tiles:
            sr = upscale_to(engine, array, opts.outscale, progress=tiles)
    ready, notes = fit_format(sr, target.suffix)
    for note in notes:
        say("note", f"{target}: {note}")
    save_array(target, ready, quality=opts.quality, png_compression=opts.png_compression)
    if opts.compare:
        from attnsr.infer.figures import side_by_side

        save_array(target.with_name(f"{target.stem}_compare.png"),
                   side_by_side(array, sr, opts.outscale or engine.scale, right_label=label))
    return True
