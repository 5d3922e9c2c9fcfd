"""``attnsr`` entry point: one explicit table of subcommands, each a module in ``attnsr.cli``.

A subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Only
the module of the subcommand being run is imported, so ``attnsr --version`` and ``attnsr --help`` answer
without loading torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence

from attnsr import __version__
from attnsr.errors import AttnsrError, AttnsrWarning

#: subcommand name -> (module in attnsr.cli, its one-line HELP; tests check it equals the module's)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "upscale": ("upscale",
                "upscale images with a bundled model, bicubic, or any network checkpoint"),
    "eval": ("evaluate",
                "Evaluate bicubic (the default) or a network (PSNR/SSIM on Y, LPIPS, NIQE, PI, spectrum) on HR "
                "image folders."),
    "score": ("score",
                "Score existing SR images against HR (same protocol and reports as eval; files matched by name)."),
    "models": ("models",
                "list networks and variants with parameter counts and FLOPs"),
    "convert": ("convert",
                "convert an official checkpoint to attnsr's safetensors format (with arch/scale/config metadata)"),
    "train": ("train",
                "train a network from a YAML recipe (resumable; works under torchrun)"),
    "prepare-h5": ("prepare_h5",
                "convert an HR image folder to an HDF5 training file (groups HR/X2/X3/X4, uint8 RGB)"),
    "export": ("export",
                "export a model to ONNX (dynamic batch, height and width)"),
    "assets": ("assets",
                "Install or list downloadable assets (LPIPS weights) in the user cache."),
    "compare": ("compare",
                "side-by-side zoomed crops (HR, bicubic, each model) with PSNR/LPIPS: the papers' comparison figure"),
    "inspect": ("inspect",
                "save the internal maps of DeFiAN, HSPAN, DFSA or FSANet for an image as PNGs"),
    "serve": ("serve",
                "run the local web app and HTTP API (before/after viewer, /v1 API; the 'serve' extra)"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (every one when ``command`` is None)."""
    parser = argparse.ArgumentParser(prog="attnsr", description="Super-resolution with attention networks.")
    parser.add_argument("--version", action="version", version=f"attnsr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or name == command:
            module = importlib.import_module(f"attnsr.cli.{module_name}")
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def _format_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    line: str | None = None) -> str:
    """attnsr's own warnings as one line, like its errors; others in Python's usual form."""
    if issubclass(category, AttnsrWarning):
        return f"attnsr: warning: {message}\n"
    return _python_format_warning(message, category, filename, lineno, line)


_python_format_warning = warnings.formatwarning


def _command(argv: Sequence[str]) -> str:
    """The subcommand named in ``argv`` ('' when none: top-level --help/--version or nothing)."""
    for item in argv:
        if not item.startswith("-"):
            return item
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    from attnsr.threads import set_wait_policy

    warnings.formatwarning = _format_warning
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    if command == "train":
        set_wait_policy()  # before torch starts OpenMP: idle threads sleep instead of spinning (attnsr.threads)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except AttnsrError as exc:
        print(f"attnsr {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"attnsr {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (``attnsr models | head``): stop quietly, as Unix tools do,
        # and point stdout at /dev/null so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        if os.environ.get("ATTNSR_TRACEBACK"):
            raise
        text = (str(exc).strip().splitlines() or [""])[0]
        print(f"attnsr {args.command}: internal error: {type(exc).__name__}: {text} (a bug: please report it; "
              "ATTNSR_TRACEBACK=1 shows where)", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
