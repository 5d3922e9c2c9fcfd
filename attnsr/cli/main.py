"""``attnsr`` entry point: one explicit table of subcommands, each a module in ``attnsr.cli``.

A subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
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

#: subcommand name -> module in attnsr.cli (imported only when that subcommand runs or help is built)
SUBCOMMANDS: dict[str, str] = {
    "upscale": "upscale",
    "eval": "evaluate",
    "score": "score",
    "models": "models",
    "convert": "convert",
    "train": "train",
    "prepare-h5": "prepare_h5",
    "export": "export",
    "assets": "assets",
    "compare": "compare",
    "inspect": "inspect",
    "serve": "serve",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attnsr", description="Super-resolution with attention networks.")
    parser.add_argument("--version", action="version", version=f"attnsr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(f"attnsr.cli.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
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


def main(argv: Sequence[str] | None = None) -> int:
    warnings.formatwarning = _format_warning  # type: ignore[assignment]
    parser = build_parser()
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
        print("attnsr: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (``attnsr models | head``): stop quietly, as Unix tools do,
        # and point stdout at /dev/null so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
