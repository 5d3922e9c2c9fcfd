"""``attnsr upscale INPUT... -o OUT``: upscale files, folders and globs with any model.

Grayscale, alpha (bicubic-upscaled) and 16-bit depth are kept; large images are tiled; a bad file gets
one error line and the others are still processed; outputs are written atomically.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from attnsr.errors import AttnsrError, ConfigError
from attnsr.infer.output import (EXTENSIONS, check_outscale, fit_format, output_name, output_suffix, scale_label,
                                 upscale_to)

HELP = "upscale images with a bundled model, bicubic, or any network checkpoint"

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


MODEL_HELP = ("'default' (bundled, the default), another bundled model, 'bicubic', or a registry network name "
              "together with --weights")


def add_engine_arguments(p: argparse.ArgumentParser, *, model_help: str | None = MODEL_HELP,
                         tile_default: str = "auto", precision_default: str = "auto",
                         border_default: str = "mirror") -> None:
    """Model and engine options shared by ``upscale``, ``eval`` and ``compare``. ``model_help=None``
    leaves out --model/--weights (for commands that name several models their own way)."""
    if model_help is not None:
        p.add_argument("--model", default=None, help=model_help)
        p.add_argument("--weights", type=Path, default=None, help="official or attnsr checkpoint file")
    p.add_argument("--tile", default=tile_default,
                   help=f"LR tile edge in pixels, 'auto' (from free memory) or 0 (whole image); default {tile_default}")
    p.add_argument("--tile-overlap", type=int, default=16, help="LR context pixels around each tile")
    p.add_argument("--border", default=border_default, choices=("mirror", "none"),
                   help="mirror: mirror the image outward before the network and crop after, so borders "
                        f"look like the inside; none: the plain network (papers' protocol); default {border_default}")
    p.add_argument("--self-ensemble", action="store_true", help="x8 flips/rotations average (papers' '+')")
    p.add_argument("--chop", action="store_true",
                   help="use the network's official chopped forward (HSPAN, FSANet) instead of tiling")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--precision", default=precision_default, choices=("auto", "fp32", "fp16", "bf16"),
                   help="autocast precision; auto: fp16 on CUDA where the model supports it (see attnsr "
                        f"models), else fp32; fp16 is CUDA only (default {precision_default})")
    p.add_argument("--fp32", action="store_true", help="same as --precision fp32 (full precision on CUDA too)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow start, faster runs)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory format (default: chosen per device and network)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for torch (default 0: the cores not kept busy by other processes, "
                        "at least 1; see attnsr/threads.py)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output folder, or an output file when there is a single input "
                        "(default: beside each input, as <name>_x<scale>.<ext>)")
    p.add_argument("--scale", type=int, default=None, help="upscaling factor (default: the model's, or 2)")
    add_engine_arguments(p)
    p.add_argument("--outscale", default=None, metavar="F",
                   help="output factor (any, e.g. 3.5): the model runs at its scale, then MATLAB bicubic "
                        "resizes to round(F*H) x round(F*W) (default: the model's scale)")
    p.add_argument("--suffix", default=None, metavar="S",
                   help="output name <name>_<S>.<ext> ('' for <name>.<ext>; default x<scale>)")
    p.add_argument("--ext", "--format", dest="ext", default="auto", metavar="|".join(EXTENSIONS),
                   help="output format; auto (default) keeps the input's (PNG for formats not written)")
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality")
    p.add_argument("--png-compression", type=int, default=1, choices=range(10), metavar="0-9",
                   help="zlib level of PNG outputs (lossless at any level; default 1: fastest to write, "
                        "files ~10%% larger than level 6)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--skip-existing", action="store_true", help="leave existing outputs and skip their inputs")
    p.add_argument("--compare", action="store_true",
                   help="also write <name>_compare.png: bicubic | model, side by side")
    p.add_argument("--max-pixels", type=int, default=200_000_000,
                   help="refuse inputs with more pixels, in every format (decompression bombs; default 200 MP)")
    add_progress_argument(p)


def add_progress_argument(p: argparse.ArgumentParser) -> None:
    """``--no-progress``: the one spelling, on every command that draws progress bars (``--quiet`` is
    accepted as an alias; training recipes say ``progress: false``)."""
    p.add_argument("--no-progress", dest="quiet", action="store_true", help="no progress bars")
    p.add_argument("--quiet", dest="quiet", action="store_true", help=argparse.SUPPRESS)


def say(line: str) -> None:
    """One message line on stderr that does not break a progress bar being drawn there."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def expand_inputs(items: list[str]) -> tuple[list[Path], list[str]]:
    """Files, folders (their image files, sorted) and globs -> (paths, error lines for items that match nothing)."""
    paths: list[Path] = []
    errors: list[str] = []
    for item in items:
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


def output_file(args: argparse.Namespace) -> Path | None:
    """``-o`` when it names a file (it has a suffix and is no existing folder), else None (a folder).

    A file name must have a writable image suffix that agrees with ``--ext``; it takes exactly one input."""
    out = args.output
    if out is None or out.is_dir() or not out.suffix:
        return None
    from attnsr.image.io import WRITE_FORMATS

    if out.suffix.lower() not in WRITE_FORMATS:
        raise ConfigError(f"-o {out}: unsupported output format {out.suffix!r} (use one of "
                          f"{', '.join(sorted(WRITE_FORMATS))}, or a folder name without a suffix)")
    if args.ext != "auto" and WRITE_FORMATS.get(out.suffix.lower()) != WRITE_FORMATS.get(f".{args.ext}"):
        raise ConfigError(f"{out}: the file name says {out.suffix}, --ext says {args.ext}")
    return out


def output_path(args: argparse.Namespace, src: Path, scale: float, n_inputs: int) -> Path:
    single = output_file(args)
    if single is not None:
        return single
    out: Path = args.output if args.output is not None else src.parent
    target = out / output_name(src, scale_label=scale_label(scale), suffix=args.suffix, ext=args.ext)
    if target.resolve() == src.resolve():
        raise ConfigError(f"{target}: the output would replace its input (give --suffix or -o)")
    return target


def plan_outputs(args: argparse.Namespace, paths: list[Path], scale: float) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(input, output) pairs and notes for the user. Outputs never replace an input, two inputs never
    write the same file (``a.webp`` and ``a.tif`` -> ``a-webp_x2.png``, ``a-tif_x2.png``, announced), and
    when ``-o`` is an input folder the earlier outputs found there (``a_x2.png`` beside ``a.png``) are not
    upscaled again."""
    single = output_file(args)
    if single is not None and len(paths) > 1:
        raise ConfigError(f"-o {args.output}: names one file but {len(paths)} inputs were given; "
                          "give a folder for several inputs")
    notes: list[str] = []
    made_by = {output_path(args, q, scale, len(paths)).resolve(): q for q in paths}
    earlier = [p for p in paths if made_by.get(p.resolve(), p) is not p]
    if earlier:
        notes.append(f"{len(earlier)} file(s) that are this run's outputs of other inputs left out "
                     f"(e.g. {earlier[0]})")
        paths = [p for p in paths if p not in earlier]
    names = {p.resolve() for p in paths}
    targets = [output_path(args, p, scale, len(paths)) for p in paths]
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


#: resident bytes per LR pixel of an upscale besides the network's activations: decoded samples, float
#: planes, the output buffer (per SR pixel) and allocator slack. Measured: 2000x2000 RGB PNG, x2, bundled
#: model, --tile 128: 742 MB peak RSS vs 288 MB for 200x200 (117 B per LR pixel).
FIXED_BYTES_PER_PX = 64
OUTPUT_BYTES_PER_SR_PX = 14
NOTE_BYTES = 2 << 30


def check_memory(src: Path, width: int, height: int, scale: int, available: int) -> str | None:
    """A note when upscaling a ``width``x``height`` image needs much memory; ImageError when it needs
    more than is ``available`` (it would swap or be killed half-way)."""
    from attnsr.errors import ImageError

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


def parse_tile(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError as exc:
        raise ConfigError(f"--tile: expected 'auto' or a number of pixels, got {text!r}") from exc
    if value < 0 or 0 < value < 8:
        raise ConfigError(f"--tile: use 0 (whole image) or at least 8 pixels, got {value}")
    return value


def parse_outscale(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise ConfigError(f"--outscale: expected a positive output factor such as 3.5, got {text!r}") from exc
    return check_outscale(value)


def precision_from_args(args: argparse.Namespace) -> str:
    """--precision, with --fp32 as its short form (both naming different precisions is an error)."""
    if getattr(args, "fp32", False):
        if args.precision not in ("auto", "fp32"):
            raise ConfigError(f"--fp32 and --precision {args.precision} exclude each other")
        return "fp32"
    return args.precision


def build_upscaler(args: argparse.Namespace, scale: int | None):  # -> (Upscaler, Resolved)
    """The engine configured from the shared command-line options."""
    import torch

    from attnsr.infer.engine import Upscaler, keep_freed_memory
    from attnsr.infer.resolve import resolve_model
    from attnsr.models import get_entry

    from attnsr.threads import apply_default_threads

    if args.threads < 0:
        raise ConfigError(f"--threads: expected 0 (automatic) or a positive count, got {args.threads}")
    if str(args.device).startswith(("auto", "cpu")):
        apply_default_threads(args.threads)
    elif args.threads:
        torch.set_num_threads(args.threads)
    if str(args.device).startswith(("auto", "cpu")):
        keep_freed_memory()
    resolved = resolve_model(args.model, args.weights, scale, chop=args.chop)
    chop = None
    if args.chop:
        entry = get_entry(resolved.chop_name) if resolved.chop_name else None
        if entry is None or entry.chop is None:
            raise ConfigError(f"--chop: {resolved.label} has no official chopped forward (HSPAN and FSANet do)")
        net_chop = entry.chop

        # each forward of the network on one crop reports progress (the chop's crops are not known ahead)
        def crop_done(*_: object) -> None:  # returns None: a forward hook's return value replaces the output
            chop.progress(1)

        def chop(net, x):  # the engine passes its own copy of the network
            handle = net.register_forward_hook(crop_done)
            try:
                return net_chop(net, x)
            finally:
                handle.remove()

        chop.progress = lambda _n: None

    engine = Upscaler(
        resolved.model, scale=resolved.scale, device=args.device, chop=chop, tile=parse_tile(args.tile),
        overlap=args.tile_overlap, self_ensemble=args.self_ensemble, precision=precision_from_args(args),
        compile=args.compile, channels_last=args.channels_last, border=args.border,
    )
    return engine, resolved


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from attnsr.errors import ImageError
    from attnsr.image.io import image_size, load_image, save_array
    from attnsr.infer.engine import available_memory

    if args.overwrite and args.skip_existing:
        raise ConfigError("--overwrite and --skip-existing exclude each other")
    if args.output is None and any(Path(i).is_dir() or any(c in i for c in "*?[") for i in args.inputs):
        raise ConfigError("give -o OUT for folders and patterns (outputs beside the inputs would be "
                          "picked up as inputs on the next run)")
    outscale = parse_outscale(args.outscale)
    output_suffix(Path("x.png"), args.ext)  # an unknown --ext: one error line before any work
    output_file(args)  # a bad -o fails before the model is loaded
    if args.output is not None:
        check_writable(args.output.parent if output_file(args) is not None else args.output)
    engine, resolved = build_upscaler(args, args.scale)
    paths, unmatched = expand_inputs(args.inputs)
    pairs, notes = plan_outputs(args, paths, outscale or resolved.scale)
    for line in unmatched:
        print(f"attnsr upscale: error: {line}", file=sys.stderr)
    for line in notes:
        print(f"attnsr upscale: note: {line}", file=sys.stderr)
    for folder in sorted({t.parent for _, t in pairs}):
        if args.output is None:
            check_writable(folder)
    failures = len(unmatched)
    done = skipped = 0
    paths = [src for src, _ in pairs]
    bar = tqdm(pairs, desc="images", unit="img", disable=args.quiet or len(pairs) < 2, file=sys.stderr)
    for src, target in bar:
        try:
            if target.exists() and not args.overwrite:
                if args.skip_existing:
                    skipped += 1
                    continue
                raise ConfigError(f"{target}: exists (use --overwrite or --skip-existing)")
            width, height = image_size(src, max_pixels=args.max_pixels)
            if width * height > args.max_pixels:
                raise ImageError(f"{src}: {width}x{height} = {width * height} pixels exceeds --max-pixels "
                                 f"{args.max_pixels}")
            if engine.device.type == "cpu":
                big = check_memory(src, width, height, resolved.scale, available_memory(engine.device))
                if big:
                    say(f"attnsr upscale: note: {big}")
            img = load_image(src, max_pixels=args.max_pixels)
            for note in img.notes:
                say(f"attnsr upscale: note: {note}")
            array = img.as_array()
            del img  # its float planes are not needed any more (12 bytes per pixel)
            if array.ndim == 3 and array.shape[-1] in (2, 4) and target.suffix.lower() in (".jpg", ".jpeg"):
                say(f"attnsr upscale: note: {target}: JPEG has no alpha channel; {src}'s transparency is "
                    "dropped (use --format png to keep it)")
            h, w = array.shape[:2]
            n_tiles = engine.count_tiles(h, w)
            if engine.chop is not None:  # the official chop: crops counted as they finish
                with tqdm(desc=f"{src.name} (chop)", unit="crop", leave=False, file=sys.stderr,
                          disable=args.quiet) as crops:
                    engine.chop.progress = crops.update
                    sr = upscale_to(engine, array, outscale)
            else:
                with tqdm(total=n_tiles, desc=src.name, unit="tile", leave=False, file=sys.stderr,
                          disable=args.quiet or n_tiles < 2) as tiles:
                    sr = upscale_to(engine, array, outscale, progress=tiles.update)
            ready, notes = fit_format(sr, target.suffix)
            for note in notes:
                say(f"attnsr upscale: note: {target}: {note}")
            save_array(target, ready, quality=args.quality, png_compression=args.png_compression)
            if args.compare:
                from attnsr.infer.figures import side_by_side

                save_array(target.with_name(f"{target.stem}_compare.png"),
                           side_by_side(array, sr, outscale or resolved.scale, right_label=resolved.label))
            done += 1
            if not args.quiet and len(paths) < 2:
                say(f"{src} -> {target}")
        except AttnsrError as exc:
            say(f"attnsr upscale: error: {exc}")
            failures += 1
        except (OSError, MemoryError) as exc:
            say(f"attnsr upscale: error: {src}: {exc}")
            failures += 1
    if failures:
        print(f"attnsr upscale: {failures} of {len(paths) + len(unmatched)} input(s) failed; {done} written, "
              f"{skipped} skipped",
              file=sys.stderr)
        return 1
    where = args.output if args.output is not None else "beside the inputs"
    print(f"{done} image(s) written to {where}" + (f", {skipped} skipped" if skipped else ""), file=sys.stderr)
    return 0
