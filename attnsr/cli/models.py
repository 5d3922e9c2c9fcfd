"""``attnsr models``: every registered network and variant, with parameters and FLOPs."""

from __future__ import annotations

import argparse


from attnsr.errors import ConfigError

HELP = "list networks and variants with parameter counts and FLOPs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", default="64x64", help="LR input size HxW for the FLOP count (default 64x64)")
    p.add_argument("--no-flops", action="store_true", help="skip the FLOP count (faster)")
    p.add_argument("--scale", type=int, default=None, help="only this scale")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise ConfigError(f"--size: expected HxW such as 64x64, got {text!r}") from exc
    return h, w


def run(args: argparse.Namespace) -> int:
    import sys

    import torch
    from tqdm import tqdm

    from attnsr.models import all_entries, create
    from attnsr.models.descriptor import describe
    from attnsr.models.stats import count_flops_by_name, count_params

    h, w = _parse_size(args.size)
    todo = [(name, entry, scale) for name, entry in all_entries().items() for scale in entry.scales
            if args.scale is None or scale == args.scale]
    header = ("network", "role", "scale", "params", f"GFLOPs@{h}x{w} (D: its patch)",
              "channels, LR size, tiles, precision, purpose", "description")
    _print_table(header, [])
    # rows are printed as they are measured; the bar (stderr) names the network being measured
    bar = tqdm(todo, desc="networks", unit="net", file=sys.stderr, leave=False, disable=args.no_progress)
    for name, entry, scale in bar:
        bar.set_postfix_str(f"{name} x{scale}")
        with torch.device("meta"):  # shapes only: parameters are counted, nothing is computed
            model = create(name, scale=scale).eval()
        size = (h, w)
        if entry.role == "discriminator":  # discriminators take one fixed patch size
            patch = getattr(model.attnsr_config, "patch_size", 128)
            size = (patch, patch)
        flops = "" if args.no_flops else f"{count_flops_by_name(name, scale, *size) / 1e9:.2f}"
        what = describe(model).line().split(", ", 1)[1] if entry.role == "generator" else "-"
        bar.write(_row((name, entry.role, f"x{scale}" if entry.role == "generator" else "-",
                        f"{count_params(model):,}", flops, what, entry.summary)), file=sys.stdout)
        sys.stdout.flush()
    bar.close()
    _print_bundled()
    return 0


def _row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(cells) + " |"


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    print(_row(header))
    print("|" + "---|" * len(header))
    for row in rows:
        print(_row(row))


def _print_bundled() -> None:
    """The models shipped inside the package (``--model default`` and ``--model NAME``)."""
    from attnsr.infer.resolve import DEFAULT_BUNDLED, bundled_models
    from attnsr.models import load_model
    from attnsr.models.descriptor import describe
    from attnsr.models.stats import count_params

    found = bundled_models()
    print()
    if not found:
        print("No bundled models in this installation.")
        return
    rows = []
    for (name, scale), path in found.items():
        model = load_model(path)
        rows.append((name + (" (default)" if name == DEFAULT_BUNDLED else ""), f"x{scale}", model.attnsr_name,
                     f"{count_params(model):,}", describe(model).line().split(", ", 1)[1], path.name))
    print("Bundled models:")
    _print_table(("name", "scale", "network", "params", "channels, LR size, tiles, precision, purpose", "file"),
                 rows)
