"""Progress output: one spelling for switching bars off, error lines that never land inside a bar, and
``--version``/``--help`` that answer without importing torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attnsr.cli.main import SUBCOMMANDS, build_parser, main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv", [["--version"], ["--help"], []])
def test_version_and_help_do_not_import_torch(argv: list[str]) -> None:
    code = ("import sys\nfrom attnsr.cli.main import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "NO-TORCH"
    if argv == ["--version"]:
        assert proc.stdout.startswith("attnsr ")
    else:
        assert all(name in proc.stdout for name in SUBCOMMANDS)


def test_subcommand_summaries_match_their_modules() -> None:
    import importlib

    for name, (module, summary) in SUBCOMMANDS.items():
        assert importlib.import_module(f"attnsr.cli.{module}").HELP == summary, name


@pytest.mark.parametrize("command", ["upscale", "eval", "score", "train"])
def test_no_progress_is_the_one_spelling(command: str) -> None:
    parser = build_parser(command)
    positional = {"upscale": ["x.png"], "eval": ["--dataset", "d"], "score": ["--sr", "sr", "--hr", "hr"],
                  "train": ["cfg.yaml"]}[command]
    sub = parser._subparsers._group_actions[0].choices[command]
    assert "--no-progress" in sub.format_help()
    assert "--quiet" not in sub.format_help()  # an accepted alias, not a second documented spelling
    for flag in ("--no-progress", "--quiet"):
        args = parser.parse_args([command, *positional, flag])
        assert getattr(args, "quiet", None) is True or getattr(args, "no_progress", None) is True


def test_error_lines_do_not_break_the_progress_bar(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "c"):
        Image.fromarray(np.full((6, 6, 3), 80, np.uint8)).save(folder / f"{name}.png")
    (folder / "b.png").write_text("not an image")
    assert main(["upscale", str(folder), "-o", str(tmp_path / "out"), "--model", "bicubic"]) == 1
    err = capsys.readouterr().err
    assert "images:" in err  # the bar was drawn
    # what a terminal shows of each line is the text after its last carriage return
    shown = [line.split("\r")[-1] for line in err.split("\n") if "b.png" in line]
    assert len(shown) == 1 and shown[0].startswith("attnsr upscale: error:"), repr(err)
