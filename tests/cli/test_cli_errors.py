"""Bad input gets one line naming the file, key or option, a non-zero exit and never a traceback
(command line), or the project's own error types (Python API)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr import Upscaler, create
from attnsr.cli.main import main
from attnsr.errors import AttnsrError, CheckpointError, ConfigError, ImageError
from attnsr.infer.resolve import Bicubic
from attnsr.models import save_model

REPO = Path(__file__).resolve().parents[2]


def _png(path: Path) -> Path:
    Image.fromarray(np.full((6, 5, 3), 90, np.uint8)).save(path)
    return path


def _one_error_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "weights_only=False" not in err and "None" not in err and "arch=" not in err, err
    return lines[0]


def _tiny_rcan(scale: int = 2) -> torch.nn.Module:
    return create("rcan", scale=scale, n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4)


@pytest.mark.parametrize(("extra", "needle"), [
    (["--precision", "fp16", "--device", "cpu"], "fp16 is not supported on CPU"),
    (["--device", "cuda"] if not torch.cuda.is_available() else ["--device", "cuda:99"], "device 'cuda"),
    (["--device", "toaster"], "not a device name"),
])
def test_device_and_precision_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                 extra: list[str], needle: str) -> None:
    img = _png(tmp_path / "a.png")
    assert main(["upscale", str(img), "-o", str(tmp_path / "o.png"), "--model", "bicubic", *extra]) == 2
    assert needle in _one_error_line(capsys)
    assert not (tmp_path / "o.png").exists()


def test_checkpoint_of_another_network_is_refused_not_ignored(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = _png(tmp_path / "a.png")
    ours, official = tmp_path / "rcan.safetensors", tmp_path / "rcan.pth"
    net = _tiny_rcan()
    save_model(net, ours)
    torch.save(net.state_dict(), official)
    for weights in (ours, official):
        assert main(["upscale", str(img), "-o", str(tmp_path / "o.png"), "--weights", str(weights),
                     "--model", "defian_s"]) == 2
        line = _one_error_line(capsys)
        assert str(weights) in line and "rcan" in line and "defian_s" in line
    # the matching name is accepted
    assert main(["upscale", str(img), "-o", str(tmp_path / "o.png"), "--weights", str(ours),
                 "--model", "rcan", "--quiet"]) == 0


def test_scale_mismatch_of_a_pth_says_the_model_scale(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = _png(tmp_path / "a.png")
    pth = tmp_path / "x4.pth"
    torch.save(_tiny_rcan(4).state_dict(), pth)
    assert main(["upscale", str(img), "-o", str(tmp_path / "o.png"), "--weights", str(pth), "--scale", "2"]) == 2
    line = _one_error_line(capsys)
    assert str(pth) in line and "model is x4" in line


def test_unknown_state_dict_names_file_and_option(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = _png(tmp_path / "a.png")
    pth = tmp_path / "foreign.pth"
    torch.save({"encoder.weight": torch.zeros(2, 2)}, pth)
    assert main(["upscale", str(img), "-o", str(tmp_path / "o.png"), "--weights", str(pth)]) == 2
    line = _one_error_line(capsys)
    assert str(pth) in line and "--model" in line


def test_mismatched_keys_name_the_file(tmp_path: Path) -> None:
    net = _tiny_rcan()
    sd = dict(net.state_dict())
    sd.pop("tail.1.weight")
    pth = tmp_path / "cut.pth"
    torch.save(sd, pth)
    from attnsr.models import from_official

    with pytest.raises(CheckpointError, match=str(pth)):
        from_official(pth, arch="rcan", scale=2)


def test_impossible_network_options_are_one_config_error() -> None:
    with pytest.raises(ConfigError, match=r"defian_s: options .*n_channels.*zero channels"):
        create("defian_s", scale=2, n_channels=8)  # 8 // reduction 16 = 0 attention channels
    with pytest.raises(ConfigError, match="hspan"):
        create("hspan", scale=2, n_feats=1, reduction=2)
    with pytest.raises(ConfigError, match="scale must be a positive integer"):
        create("rcan", scale=0)
    with pytest.raises(ConfigError, match="unknown network"):
        create("nonesuch")


def test_impossible_network_in_a_training_recipe_is_one_line(shared: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    recipe = REPO / "configs" / "defian" / "cpu_x2.yaml"
    sets = [f"output_dir={tmp_path / 'run'}", "model.options.n_channels=3", "iterations=1", "progress=false",
            f"data.hr_dir={shared / 'datasets' / 'T91'}", "data.num_workers=0", "val.hr_dir="]
    args = ["train", str(recipe)]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "n_channels" in err[0], err


@pytest.mark.parametrize("array", [
    np.zeros((0, 5, 3), np.uint8),
    np.zeros((4, 0), np.uint16),
    np.full((4, 4, 3), 2.0, np.float32),      # float outside [0, 1]
    np.full((4, 4, 3), np.nan, np.float32),
    np.zeros((4, 4, 3), np.int64),
    np.zeros((4, 4, 5), np.uint8),
])
def test_python_api_rejects_bad_arrays_with_image_error(array: np.ndarray) -> None:
    engine = Upscaler(Bicubic(2), scale=2, device="cpu")
    with pytest.raises(ImageError):
        engine.upscale(array)


def test_python_api_rejects_bad_tensors_and_options() -> None:
    engine = Upscaler(Bicubic(2), scale=2, device="cpu")
    for bad in (torch.zeros(3, 0, 4), torch.zeros(1, 4, 4, 4), torch.zeros(3, 4, 4, dtype=torch.uint8)):
        with pytest.raises(ImageError):
            engine.upscale(bad)
    with pytest.raises(AttnsrError):
        engine.upscale("not an image")
    with pytest.raises(ConfigError):
        Upscaler(Bicubic(2), scale=0, device="cpu")
    with pytest.raises(ConfigError):
        Upscaler(Bicubic(2), scale=2, device="cpu", precision="fp8")


def test_unexpected_exception_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import attnsr.cli.models as models_cli

    def boom(_args: object) -> int:
        raise RuntimeError("first line\nsecond line")

    monkeypatch.setattr(models_cli, "run", boom)
    monkeypatch.delenv("ATTNSR_TRACEBACK", raising=False)
    assert main(["models"]) == 70
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "RuntimeError: first line" in err and "second" not in err


def test_unreadable_checkpoints_are_one_line_without_torch_advice(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    import pickle

    img = _png(tmp_path / "a.png")
    plain = tmp_path / "plain.pth"
    plain.write_bytes(pickle.dumps({"a": 1}, protocol=4))  # not a torch.save file: torch warns, then fails
    typed = tmp_path / "typed.pth"
    torch.save({"w": torch.zeros(2), "t": float}, typed)  # a global that is not a tensor
    for weights in (plain, typed):
        assert main(["upscale", str(img), "-o", str(tmp_path / "o.png"), "--weights", str(weights)]) == 2
        line = _one_error_line(capsys)
        assert str(weights) in line
