"""Training data: resumable rank-aware sampling, aligned seeded patches, augmentations, bad images, HDF5."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.cli.main import main
from attnsr.data import H5Dataset, HRFolderDataset, PairedFolderDataset, StreamBatchSampler
from attnsr.errors import ConfigError
from attnsr.image.degrade import degrade
from attnsr.image.dihedral import dihedral
from attnsr.image.resize import imresize


def _images(folder: Path, count: int = 3, size: tuple[int, int] = (40, 36)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    return folder


def test_sampler_stream_is_a_function_of_the_iteration() -> None:
    full = StreamBatchSampler(10, 4, seed=3, iterations=7)
    batches = list(full)
    assert len(batches) == 7
    # every epoch of 10 stream positions is a permutation of the dataset
    flat = [i for b in batches for i, _ in b]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))
    assert flat[:10] != flat[10:20]
    # resuming at iteration 4 yields exactly the remaining batches
    assert list(StreamBatchSampler(10, 4, seed=3, start_iteration=4, iterations=7)) == batches[4:]
    # two ranks: their halves concatenated are the single-process batch
    ranks = [list(StreamBatchSampler(10, 4, seed=3, iterations=7, rank=r, world_size=2)) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks)] == batches
    assert len({s for b in batches for _, s in b}) == 28  # every item has its own seed
    with pytest.raises(ValueError, match="divisible"):
        StreamBatchSampler(10, 3, seed=0, world_size=2)


def test_hr_folder_patches_are_aligned_seeded_and_augmented(tmp_path: Path) -> None:
    folder = _images(tmp_path / "hr")
    ds = HRFolderDataset(folder, scale=2, lr_patch=6, augment=True)
    lr, hr = ds[(1, 1234)]
    assert lr.shape == (3, 6, 6) and hr.shape == (3, 12, 12) and lr.dtype == torch.float32
    assert torch.equal(ds[(1, 1234)][0], lr)  # same (index, seed), same item
    # the LR patch is the bicubic LR of the HR patch region of the whole image (margin cut away)
    whole = HRFolderDataset(folder, scale=2, lr_patch=6, augment=True, cache=True)
    assert torch.allclose(whole[(1, 1234)][0], lr, atol=1e-6)
    # HR patch pixels are an exact dihedral transform of a crop of the file
    src = torch.from_numpy(np.array(Image.open(folder / "im1.png"))).permute(2, 0, 1).float() / 255
    found = set()
    for seed in range(60):
        _, hr = ds[(1, seed)]
        for k in range(8):
            patch = dihedral(hr, k if k < 4 or k in (4, 7) else 11 - k)  # inverse of dihedral k
            hits = [(t, u) for t in range(0, 25, 2) for u in range(0, 29, 2)
                    if torch.equal(src[:, t:t + 12, u:u + 12], patch)]
            if hits:
                found.add(k)
                break
        else:
            pytest.fail(f"seed {seed}: HR patch is not a dihedral transform of an aligned crop")
    assert found == set(range(8))


def test_hr_rescale_adds_downscaled_copies_that_hold_a_patch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _images(tmp_path / "hr", count=2, size=(40, 36))
    Image.fromarray(np.full((20, 22, 3), 7, np.uint8)).save(folder / "small.png")  # x0.5 is 10x11: too small
    plain = HRFolderDataset(folder, scale=2, lr_patch=6, cache=True)
    with caplog.at_level(logging.INFO, logger="attnsr.data"):
        ds = HRFolderDataset(folder, scale=2, lr_patch=6, cache=True, hr_rescale=(1.0, 0.5))
    assert ds.source.items == [(0, 1.0), (1, 1.0), (2, 1.0), (0, 0.5), (1, 0.5)]
    assert "1 downscaled copies are smaller than the 12-pixel HR patch" in caplog.text
    for i in range(3):  # factor 1 items are the plain dataset's, item for item
        assert all(torch.equal(a, b) for a, b in zip(ds[(i, 99)], plain[(i, 99)]))
    # a copy's HR patch is an aligned crop of the MATLAB-bicubic x0.5 image (20x18), not of the file
    src = torch.from_numpy(np.array(Image.open(folder / "im1.png"))).permute(2, 0, 1)
    half = imresize(src, 0.5).float() / 255
    assert half.shape == (3, 18, 20)
    for seed in range(20):
        lr, hr = HRFolderDataset(folder, scale=2, lr_patch=6, augment=False, cache=True, hr_rescale=(1.0, 0.5))[
            (4, seed)]
        hits = [(t, u) for t in range(0, 7, 2) for u in range(0, 9, 2) if torch.equal(half[:, t:t + 12, u:u + 12], hr)]
        assert len(hits) == 1
        t, u = hits[0]
        assert torch.allclose(lr, degrade(half, 2, "BI", quantize=True)[:, t // 2:t // 2 + 6, u // 2:u // 2 + 6],
                              atol=1e-6)
    assert "downscaled x0.5" in ds.describe(4)


def test_extra_hr_dirs_append_their_images_after_hr_dir(tmp_path: Path) -> None:
    main_dir = _images(tmp_path / "hr", count=2, size=(40, 36))
    extra = tmp_path / "extra"
    extra.mkdir()
    Image.fromarray(np.full((36, 40), 200, np.uint8)).save(extra / "a_gray.png")  # gray: replicated to RGB
    plain = HRFolderDataset(main_dir, scale=2, lr_patch=6, cache=True, hr_rescale=(1.0, 0.5))
    ds = HRFolderDataset(main_dir, scale=2, lr_patch=6, cache=True, hr_rescale=(1.0, 0.5), extra_dirs=[extra])
    assert [f.name for f in ds.source.files] == ["im0.png", "im1.png", "a_gray.png"]
    assert ds.source.items == [(0, 1.0), (1, 1.0), (2, 1.0), (0, 0.5), (1, 0.5), (2, 0.5)]
    for i, j in ((0, 0), (1, 1), (3, 2), (4, 3)):  # the main folder's items are unchanged, seed for seed
        assert all(torch.equal(a, b) for a, b in zip(ds[(i, 7)], plain[(j, 7)]))
    lr, hr = ds[(2, 7)]
    assert torch.equal(hr, torch.full((3, 12, 12), 200 / 255))
    assert "a_gray.png" in ds.source.describe(2)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"data.extra_hr_dirs: .*empty: holds no images"):
        HRFolderDataset(main_dir, scale=2, lr_patch=6, extra_dirs=[extra, empty])
    unmade = tmp_path / "tiles"  # a folder made on demand: its <name>.md beside it says how
    with pytest.raises(ConfigError, match=r"data.extra_hr_dirs: .*tiles: not a folder"):
        HRFolderDataset(main_dir, scale=2, lr_patch=6, extra_dirs=[unmade])
    (tmp_path / "tiles.md").write_text("run scripts/make_tiles.py")
    with pytest.raises(ConfigError, match=r"data.extra_hr_dirs: .*tiles: not made yet; .*tiles.md says how"):
        HRFolderDataset(main_dir, scale=2, lr_patch=6, extra_dirs=[unmade])


def test_corrupt_and_small_images_are_reported_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _images(tmp_path / "hr", count=2)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    Image.new("RGB", (4, 4)).save(folder / "tiny.png")
    ds = HRFolderDataset(folder, scale=2, lr_patch=6)
    names = [f.name for f in ds.source.files]
    with caplog.at_level(logging.WARNING, logger="attnsr.data"):
        for i in range(len(names)):
            lr, hr = ds[(i, i)]
            assert hr.shape == (3, 12, 12)
    logged = caplog.text
    assert "broken.png" in logged and "tiny.png" in logged


def test_paired_folders(tmp_path: Path) -> None:
    hr_dir = _images(tmp_path / "hr", count=2, size=(24, 20))
    lr_dir = tmp_path / "lr"
    lr_dir.mkdir()
    for f in hr_dir.iterdir():
        hr = torch.from_numpy(np.array(Image.open(f))).permute(2, 0, 1).float() / 255
        lr = degrade(hr, 2, "BI", quantize=True)
        Image.fromarray((lr * 255).round().byte().permute(1, 2, 0).numpy()).save(lr_dir / f"{f.stem}x2.png")
    ds = PairedFolderDataset(hr_dir, lr_dir, scale=2, lr_patch=5, augment=False)
    lr_file = torch.from_numpy(np.array(Image.open(ds.source.lr_files[1]))).permute(2, 0, 1).float() / 255
    hr_file = torch.from_numpy(np.array(Image.open(ds.source.hr_files[1]))).permute(2, 0, 1).float() / 255
    for seed in range(5):
        lr, hr = ds[(1, seed)]
        hits = [(t, u) for t in range(6) for u in range(8) if torch.equal(lr_file[:, t:t + 5, u:u + 5], lr)]
        assert len(hits) == 1
        t, u = hits[0]
        assert torch.equal(hr_file[:, 2 * t:2 * t + 10, 2 * u:2 * u + 10], hr)  # aligned HR crop
    shutil.rmtree(lr_dir)
    lr_dir.mkdir()
    with pytest.raises(Exception, match="lr_dir"):
        PairedFolderDataset(hr_dir, lr_dir, scale=2, lr_patch=5)


def test_prepare_h5_roundtrip_rgb_and_official_bgr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _images(tmp_path / "hr", count=2, size=(50, 38))
    out = tmp_path / "train.h5"
    assert main(["prepare-h5", str(folder), str(out), "--scales", "2", "4"]) == 0
    with h5py.File(out, "r") as f:
        assert sorted(f.keys()) == ["HR", "X2", "X4"]
        hr0 = f["HR"]["0"][()]
        assert hr0.dtype == np.uint8 and hr0.shape == (36, 48, 3)  # modcropped to lcm(2, 4)
        assert f["X4"]["1"].shape == (9, 12, 3)
        src = np.array(Image.open(folder / "im0.png"))[:36, :48]
        assert np.array_equal(hr0, src)  # RGB, not BGR
    ds = H5Dataset(out, scale=2, lr_patch=6, augment=False)
    lr, hr = ds[(0, 5)]
    assert lr.shape == (3, 6, 6) and hr.shape == (3, 12, 12)
    # an official (BGR) file reads back as the same RGB with bgr=True
    bgr = tmp_path / "official.h5"
    with h5py.File(out, "r") as f, h5py.File(bgr, "w") as g:
        for group in ("HR", "X2"):
            for name in f[group]:
                g.create_dataset(f"{group}/{name}", data=f[group][name][()][..., ::-1])
    lr2, hr2 = H5Dataset(bgr, scale=2, lr_patch=6, bgr=True, augment=False)[(0, 5)]
    assert torch.equal(lr, lr2) and torch.equal(hr, hr2)
