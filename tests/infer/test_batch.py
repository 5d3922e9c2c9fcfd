"""The batch API (:mod:`attnsr.infer.batch`) from Python: summary, files, messages and progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.errors import ConfigError
from attnsr.image.resize import imresize
from attnsr.infer.batch import BatchOptions, plan_outputs, upscale_batch
from attnsr.infer.engine import Upscaler
from attnsr.infer.resolve import Bicubic


def _png(path: Path, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    a = (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)
    Image.fromarray(a).save(path)
    return a


def test_two_inputs_one_bad_gives_summary_files_and_messages(tmp_path: Path) -> None:
    good = _png(tmp_path / "good.png", (10, 12, 3))
    (tmp_path / "bad.png").write_text("not an image")
    out = tmp_path / "out"
    messages: list[tuple[str, str]] = []
    steps: dict[str, int] = {}

    @contextmanager
    def bars(*, total: int | None, desc: str, unit: str, leave: bool,
             hidden: bool) -> Iterator[Callable[[int], object]]:
        steps[unit] = 0

        def update(n: int) -> None:
            steps[unit] += n

        yield update

    engine = Upscaler(Bicubic(2), device="cpu")
    result = upscale_batch(engine, [tmp_path / "good.png", tmp_path / "bad.png"],
                           BatchOptions(output=out, compare=True), label="bicubic",
                           on_message=lambda level, text: messages.append((level, text)), progress=bars)
    assert result.total == 2 and not result.ok
    assert result.written == [(tmp_path / "good.png", out / "good_x2.png")]
    assert result.skipped == []
    assert [src for src, _ in result.failures] == [str(tmp_path / "bad.png")]
    assert "bad.png" in result.failures[0][1]
    assert [lvl for lvl, _ in messages] == ["error"] and "bad.png" in messages[0][1]
    assert steps["img"] == 2  # one step per input, the failed one too
    sr = np.asarray(Image.open(out / "good_x2.png"))
    x = torch.from_numpy(good.astype(np.float32) / 255).permute(2, 0, 1)[None]
    want = (imresize(x, 2.0)[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    assert sr.shape == (20, 24, 3)
    assert np.abs(sr.astype(int) - want.astype(int)).max() <= 1
    assert (out / "good_x2_compare.png").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["good_x2.png", "good_x2_compare.png"]  # nothing half-written


def test_existing_outputs_skipped_or_refused(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", (6, 6, 3))
    out = tmp_path / "o"
    out.mkdir()
    (out / "a_x2.png").write_bytes(b"keep me")
    engine = Upscaler(Bicubic(2), device="cpu")
    kept = upscale_batch(engine, [tmp_path / "a.png"], BatchOptions(output=out, skip_existing=True))
    assert kept.ok and kept.skipped == [tmp_path / "a.png"] and not kept.written
    refused = upscale_batch(engine, [tmp_path / "a.png"], BatchOptions(output=out))
    assert not refused.ok and "exists" in refused.failures[0][1]
    assert (out / "a_x2.png").read_bytes() == b"keep me"
    with pytest.raises(ConfigError, match="exclude each other"):
        upscale_batch(engine, [tmp_path / "a.png"], BatchOptions(output=out, overwrite=True, skip_existing=True))


def test_plan_outputs_names_suffix_ext_outscale_and_collisions(tmp_path: Path) -> None:
    a_webp, a_tif = tmp_path / "a.webp", tmp_path / "a.tif"
    pairs, notes = plan_outputs(BatchOptions(output=tmp_path / "o", ext="png"), [a_webp, a_tif], 2.0)
    assert [t.name for _, t in pairs] == ["a-webp_x2.png", "a-tif_x2.png"] and len(notes) == 2
    pairs, _ = plan_outputs(BatchOptions(suffix="big", ext="jpg"), [tmp_path / "p.png"], 3.5)
    assert pairs[0][1] == tmp_path / "p_big.jpg"
    pairs, _ = plan_outputs(BatchOptions(), [tmp_path / "p.png"], 3.5)
    assert pairs[0][1] == tmp_path / "p_x3.5.png"
    with pytest.raises(ConfigError, match="replace its input"):
        plan_outputs(BatchOptions(suffix=""), [tmp_path / "p.png"], 2.0)
