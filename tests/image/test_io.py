"""Image files in and out: formats, bit depths, alpha, gray, EXIF, atomic writes and every bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.errors import ImageError
from attnsr.image import png16
from attnsr.image.io import from_uint8, load_image, read_rgb, save_array, save_image, to_uint8


def _rgb8(h: int = 9, w: int = 7, c: int = 3) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, c), dtype=np.uint8)


def test_uint8_helpers_round_half_up():
    t = torch.tensor([[[0.5 / 255, 1.5 / 255, 2.4999 / 255, 1.2, -0.1]]])
    assert to_uint8(t).ravel().tolist() == [1, 2, 2, 255, 0]
    a = _rgb8()
    np.testing.assert_array_equal(to_uint8(from_uint8(a)), a)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".webp"])
def test_lossless_8bit_round_trip(tmp_path, suffix):
    a = _rgb8()
    path = save_image(tmp_path / f"x{suffix}", from_uint8(a), quality=100)
    if suffix == ".webp":
        Image.fromarray(a).save(path, lossless=True)  # Pillow's lossless WebP; quality path tested below
    img = load_image(path)
    assert img.rgb.shape == (3, 9, 7) and img.bit_depth == 8 and not img.gray and img.alpha is None
    np.testing.assert_array_equal(to_uint8(img.rgb), a)


def test_jpeg_and_webp_quality(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for suffix in (".jpg", ".webp"):
        lo = save_image(tmp_path / f"lo{suffix}", from_uint8(a), quality=10)
        hi = save_image(tmp_path / f"hi{suffix}", from_uint8(a), quality=95)
        assert lo.stat().st_size < hi.stat().st_size
        assert read_rgb(hi).shape == (3, 64, 64)


def test_png_compression_levels_are_lossless_and_trade_size(tmp_path):
    y, x = np.mgrid[0:96, 0:128]
    smooth8 = np.stack([x * 2, y * 2, (x + y) % 256], -1).astype(np.uint8)
    smooth16 = smooth8.astype(np.uint16) * 257 + 3
    for a in (smooth8, smooth16):
        sizes = []
        for level in (0, 1, 9):
            path = save_array(tmp_path / f"l{level}_{a.dtype}.png", a, png_compression=level)
            sizes.append(path.stat().st_size)
            img = load_image(path)
            scale = 255 if a.dtype == np.uint8 else 65535
            np.testing.assert_array_equal(np.rint(img.rgb.double().numpy().transpose(1, 2, 0) * scale), a)
        assert sizes[0] > sizes[1] > sizes[2]  # stored > fast > best


def test_png_compression_out_of_range_names_the_file(tmp_path):
    with pytest.raises(ImageError, match="out.png.*0-9"):
        save_array(tmp_path / "out.png", _rgb8(), png_compression=10)
    assert not (tmp_path / "out.png").exists()


def test_16bit_rgb_and_rgba_round_trip(tmp_path):
    t = torch.rand(3, 10, 6, generator=torch.Generator().manual_seed(0))
    alpha = torch.rand(1, 10, 6, generator=torch.Generator().manual_seed(1))
    save_image(tmp_path / "x.png", t, alpha=alpha, bit_depth=16)
    img = load_image(tmp_path / "x.png")
    assert img.bit_depth == 16 and img.alpha is not None and not img.gray
    levels = torch.floor(t.double() * 65535 + 0.5) / 65535
    torch.testing.assert_close(img.rgb.double(), levels, atol=1e-7, rtol=0)
    torch.testing.assert_close(img.alpha, torch.floor(alpha.double() * 65535 + 0.5).float() / 65535)


def test_16bit_gray_written_by_pillow_with_filters(tmp_path):
    # Pillow's encoder picks adaptive row filters (Sub/Up/Average/Paeth): checks our unfiltering
    a = (np.add.outer(np.arange(40) * 1500, np.arange(33) * 37) % 65536).astype(np.uint16)
    a[5:9, 3:30] = np.random.default_rng(2).integers(0, 65536, (4, 27))
    Image.fromarray(a).save(tmp_path / "g.png")
    data = (tmp_path / "g.png").read_bytes()
    assert png16.handles(data)
    np.testing.assert_array_equal(png16.decode(data)[..., 0], a)
    img = load_image(tmp_path / "g.png")
    assert img.gray and img.bit_depth == 16
    np.testing.assert_allclose(img.rgb[2].numpy() * 65535, a, atol=0.01)
    save_image(tmp_path / "g2.png", img.rgb, gray=True, bit_depth=16)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "g2.png")), a)


def test_gray_alpha_palette(tmp_path):
    g = _rgb8(c=1)[..., 0]
    Image.fromarray(g).save(tmp_path / "g.png")
    img = load_image(tmp_path / "g.png")
    assert img.gray and torch.equal(img.rgb[0], img.rgb[2])
    save_image(tmp_path / "g_out.png", img.rgb, gray=True)
    assert Image.open(tmp_path / "g_out.png").mode == "L"
    rgba = _rgb8(c=4)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    np.testing.assert_array_equal(to_uint8(img.alpha)[..., 0], rgba[..., 3])
    save_image(tmp_path / "a_out.png", img.rgb, alpha=img.alpha)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a_out.png")), rgba)
    pal = Image.fromarray(_rgb8()).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    pal.save(tmp_path / "p.png")
    np.testing.assert_array_equal(to_uint8(read_rgb(tmp_path / "p.png")), np.asarray(pal.convert("RGB")))


def test_exif_orientation_applied(tmp_path):
    a = _rgb8(4, 6)
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    im.save(tmp_path / "o.png", exif=exif)
    img = load_image(tmp_path / "o.png")
    assert img.rgb.shape == (3, 6, 4)
    np.testing.assert_array_equal(to_uint8(img.rgb), np.rot90(a, k=-1))


def test_bad_inputs_name_the_file(tmp_path):
    good = save_image(tmp_path / "good.png", from_uint8(_rgb8(64, 64)))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "trunc.png").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "text.png").write_text("hello, not an image\n")
    cases = {"missing.png": "no such file", "empty.png": "0 bytes", "trunc.png": "cannot read",
             "text.png": "not an image"}
    for name, words in cases.items():
        with pytest.raises(ImageError, match=words) as info:
            load_image(tmp_path / name)
        assert str(tmp_path / name) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(good, max_pixels=64 * 64 - 1)
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)


def test_save_is_atomic(tmp_path, monkeypatch):
    target = save_image(tmp_path / "out.png", torch.zeros(3, 4, 4))
    before = target.read_bytes()

    def broken_save(self, fp, format=None, **kw):
        fp.write(b"half-written")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageError, match="out.png"):
        save_image(target, torch.ones(3, 4, 4))
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.png"]
    with pytest.raises(ImageError, match="unsupported output format"):
        save_image(tmp_path / "x.gif", torch.zeros(3, 2, 2))


def test_list_images_is_the_one_folder_listing(tmp_path):
    import attnsr.data
    import attnsr.eval
    from attnsr.errors import ConfigError
    from attnsr.image.io import IMAGE_SUFFIXES, list_images

    for name in ("b.PNG", "a.jpg", "c.ppm", "notes.txt", "d.webp.bak"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()  # a folder named like an image is not one
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.ppm"]
    assert attnsr.data.list_images is list_images and attnsr.eval.list_images is list_images
    assert attnsr.eval.IMAGE_SUFFIXES is IMAGE_SUFFIXES

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=f"^data.hr_dir: {empty}: holds no images"):
        list_images(empty, what="data.hr_dir")
    with pytest.raises(ConfigError, match=f"^{tmp_path / 'missing'}: not a folder$"):
        list_images(tmp_path / "missing")
