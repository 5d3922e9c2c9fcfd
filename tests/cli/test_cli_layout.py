"""The CLI's layout: subcommand modules parse arguments and call the library; they never import each other
(shared argument definitions live in ``attnsr.cli.args``, shared output in ``attnsr.cli.report``)."""

from __future__ import annotations

import ast
from pathlib import Path

import attnsr.cli
from attnsr.cli.main import SUBCOMMANDS

CLI = Path(attnsr.cli.__file__).parent
SUBCOMMAND_MODULES = {module for module, _ in SUBCOMMANDS.values()}


def cli_imports(source: str) -> set[str]:
    """Names of the ``attnsr.cli`` modules that ``source`` imports (absolute or relative, anywhere)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[:2] == ["attnsr", "cli"] and len(parts) > 2:
                    found.add(parts[2])
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .upscale import x, from . import upscale
                parts = base.split(".") if base else []
            elif base.split(".")[:2] == ["attnsr", "cli"]:
                parts = base.split(".")[2:]
            else:
                continue
            if parts:
                found.add(parts[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_the_import_parser_sees_every_spelling() -> None:
    src = ("import attnsr.cli.upscale\nfrom attnsr.cli.evaluate import run\nfrom attnsr.cli import score\n"
           "from .compare import x\nfrom . import models\ndef f():\n    from attnsr.cli.args import y\n"
           "import attnsr.infer.batch\n")
    assert cli_imports(src) == {"upscale", "evaluate", "score", "compare", "models", "args"}


def test_subcommand_modules_do_not_import_each_other() -> None:
    assert SUBCOMMAND_MODULES <= {p.stem for p in CLI.glob("*.py")}
    offenders = []
    for path in sorted(CLI.glob("*.py")):
        if path.stem not in SUBCOMMAND_MODULES:
            continue
        for other in sorted(cli_imports(path.read_text()) & SUBCOMMAND_MODULES - {path.stem}):
            offenders.append(f"attnsr/cli/{path.name} imports attnsr.cli.{other}")
    assert not offenders, "; ".join(offenders)
