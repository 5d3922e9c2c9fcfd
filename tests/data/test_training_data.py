"""The bundled models' training data: data/extra-photos is what its provenance says, and no recipe of a
shipped model trains on a benchmark set."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from PIL import Image

from attnsr.image.io import list_images
from attnsr.train import load_plan

REPO = Path(__file__).resolve().parents[2]
EXTRA = REPO / "data" / "extra-photos"
BENCHMARKS = ("set5", "set14", "b100", "bsd100", "urban100", "manga109")


def _provenance_table() -> dict[str, str]:
    """{file name: sha256} from the README's table rows."""
    rows = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", (EXTRA / "README.md").read_text(), re.M)
    return dict(rows)


def test_extra_photos_are_the_files_their_provenance_lists() -> None:
    table = _provenance_table()
    files = {p.name: p for p in list_images(EXTRA)}
    assert len(table) == 9 and set(table) == set(files)
    for name, digest in table.items():
        assert hashlib.sha256(files[name].read_bytes()).hexdigest() == digest, name
    listed = (REPO / "attnsr" / "assets" / "training-data.txt").read_text()
    assert all(name in listed for name in files)  # the package's own provenance names each file too
    assert not (EXTRA / "rocket.jpg").exists()  # the real-JPEG figure input is never trained on


def test_bundled_and_candidate_recipes_train_on_no_benchmark_set() -> None:
    recipes = [*sorted((REPO / "configs" / "bundled").glob("*.yaml")),
               *sorted((REPO / "configs" / "photo").glob("*.yaml"))]
    assert len(recipes) >= 8
    for recipe in recipes:
        for stage in load_plan(recipe):
            data = stage.cfg.data
            for folder in (data.hr_dir, data.lr_dir, data.h5_path, *data.extra_hr_dirs):
                parts = {p.lower() for p in Path(folder).parts}
                assert not parts & set(BENCHMARKS), f"{recipe.name}: {folder}"
                if folder.startswith("data/"):  # in the repository, or made on demand as data/<name>.md says
                    assert (REPO / folder).is_dir() or (REPO / f"{folder}.md").is_file(), f"{recipe.name}: {folder}"


def test_no_extra_photo_is_a_benchmark_image(shared: Path) -> None:
    """Same size and nearly the same pixels as any Set5/Set14/B100 HR image (or its transpose) fails."""
    bench = [p for s in ("Set5", "Set14", "B100") for p in list_images(shared / "datasets" / s)]
    by_size: dict[tuple[int, int], list[Path]] = {}
    for p in bench:
        with Image.open(p) as im:
            by_size.setdefault(im.size, []).append(p)
    for photo in list_images(EXTRA):
        a = np.asarray(Image.open(photo).convert("L"), np.float32)
        for b_path in by_size.get((a.shape[1], a.shape[0]), []) + by_size.get((a.shape[0], a.shape[1]), []):
            b = np.asarray(Image.open(b_path).convert("L"), np.float32)
            b = b if b.shape == a.shape else b.T
            assert np.abs(a - b).mean() > 8, f"{photo.name} looks like {b_path}"


def test_milder_candidate_differs_from_the_shipped_recipe_only_in_its_mix() -> None:
    """The shipped photo x2 recipe trains on T91 and data/extra-photos; the milder candidate changes only
    the share of images that get Real-ESRGAN's second stage."""
    import dataclasses

    (shipped,) = load_plan(REPO / "configs" / "bundled" / "attnsr-photo_x2.yaml")
    (stage,) = load_plan(REPO / "configs" / "photo" / "candidate-extra-mild_x2.yaml")
    assert shipped.cfg.data.extra_hr_dirs == ("data/extra-photos",)
    assert Path(shipped.cfg.data.hr_dir).name == "T91"
    data = stage.cfg.data
    assert data.realistic.realesrgan.second_order_prob == 0.5
    assert shipped.cfg.data.realistic.realesrgan.second_order_prob == 1.0
    realistic = dataclasses.replace(data.realistic, realesrgan=dataclasses.replace(
        data.realistic.realesrgan, second_order_prob=1.0))
    same = dataclasses.replace(stage.cfg, name=shipped.cfg.name, output_dir=shipped.cfg.output_dir,
                               data=dataclasses.replace(data, realistic=realistic))
    assert same == shipped.cfg
