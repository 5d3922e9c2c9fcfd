"""``attnsr convert`` and ``attnsr models``: official checkpoint -> our format with the same outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conformance import load_vector

from attnsr.cli.main import main
from attnsr.models import load_model
from attnsr.models.checkpoint import read_checkpoint


def test_convert_official_checkpoint_keeps_outputs(shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    vec = load_vector(shared / "conformance" / "defian" / "x2_case1.pt")
    official = tmp_path / "DeFiAN_S_x2.pth"
    torch.save({"state_dict": vec["weights"]}, official)
    out = tmp_path / "defian.safetensors"
    assert main(["convert", str(official), "-o", str(out)]) == 0
    assert "defian_s x2" in capsys.readouterr().out
    _, meta = read_checkpoint(out)
    assert meta["arch"] == "defian_s" and meta["scale"] == "2" and '"n_channels": 32' in meta["config"]
    model = load_model(out)
    x = vec["input_rgb01"]
    with torch.no_grad():
        assert (model(x) - vec["output_rgb01"]).abs().max().item() <= 1e-5


def test_convert_unrecognised_checkpoint_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "other.pth"
    torch.save({"foo.weight": torch.zeros(3, 3)}, bad)
    assert main(["convert", str(bad), "-o", str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not recognised" in err
    assert not (tmp_path / "x.safetensors").exists()


def test_models_lists_every_generator_with_counts(capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "--no-flops", "--scale", "3"]) == 0
    out = capsys.readouterr().out
    for name, count in (("defian_s", "1,073,690"), ("hspan", "33,948,538"), ("fsanet", "28,687,727")):
        assert f"| {name} | generator | x3 | {count} |" in out


def test_closed_stdout_pipe_ends_quietly() -> None:
    """`attnsr assets list | head`: a reader that goes away ends the command without a traceback."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "attnsr", "assets", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # no reader: the first flush of stdout fails with EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
