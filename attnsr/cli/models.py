"""``attnsr models``: every registered network and variant, with parameters and FLOPs."""

from __future__ import annotations

import argparse


from attnsr.errors import ConfigError

HELP = "list networks and variants with parameter counts and FLOPs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", default="64x64", help="LR input size HxW for the FLOP count (default 64x64)")
    p.add_argument("--no-flops", action="store_true", help="skip the FLOP count (faster)")
    p.add_argument("--scale", type=int, default=None, help="only this scale")


def _parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise ConfigError(f"--size: expected HxW such as 64x64, got {text!r}") from exc
    return h, w


def run(args: argparse.Namespace) -> int:
    from attnsr.models import all_entries, create
    from attnsr.models.descriptor import describe
    from attnsr.models.stats import count_flops, count_params

    h, w = _parse_size(args.size)
    rows = []
    for name, entry in all_entries().items():
        for scale in entry.scales:
            if args.scale is not None and scale != args.scale:
                continue
            model = create(name, scale=scale).eval()
            size = (h, w)
            if entry.role == "discriminator":  # discriminators take one fixed patch size
                patch = getattr(model.attnsr_config, "patch_size", 128)
                size = (patch, patch)
            flops = "" if args.no_flops else f"{count_flops(model, *size) / 1e9:.2f}"
            what = describe(model).line().split(", ", 1)[1] if entry.role == "generator" else "-"
            rows.append((name, entry.role, f"x{scale}" if entry.role == "generator" else "-",
                         f"{count_params(model):,}", flops, what, entry.summary))
    header = ("network", "role", "scale", "params", f"GFLOPs@{h}x{w} (D: its patch)",
              "channels, LR size, tiles, precision, purpose", "description")
    _print_table(header, rows)
    _print_bundled()
    return 0


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


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
