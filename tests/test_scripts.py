"""The tools under scripts/ and benchmarks/: bundle_models.py ships a staged run's last EMA; run_all.sh runs
every benchmark."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from attnsr.models.checkpoint import read_checkpoint
from attnsr.train import load_plan, train_plan

REPO = Path(__file__).resolve().parents[1]


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundle_models_ships_the_last_stage_ema_with_provenance(shared: Path, tmp_path: Path) -> None:
    recipe = {
        "name": "tiny_x2", "output_dir": str(tmp_path / "runs" / "tiny_x2"), "seed": 1, "progress": False,
        "log_every": 1, "save_every": 1000, "ema_decay": 0.9, "threads": 1,
        "model": {"name": "dfsa", "scale": 2, "options": {"n_feats": 8, "n_resgroups": 1, "n_resblocks": 2,
                                                         "reduction": 4, "hpf_placement": "none"}},
        "data": {"hr_dir": str(shared / "datasets" / "T91"), "lr_patch": 12, "batch_size": 2, "num_workers": 0},
        "optim": {"lr": 1e-3}, "schedule": {"kind": "cosine"},
        "stages": [{"name": "a", "iterations": 2}, {"name": "b", "iterations": 1, "init": {"weights": "ema"}}],
    }
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "tiny_x2.yaml").write_text(yaml.safe_dump(recipe))
    train_plan(load_plan(tmp_path / "recipes" / "tiny_x2.yaml"))
    tool = _module(REPO / "scripts" / "bundle_models.py")
    assert tool.main(["--runs", str(tmp_path / "runs"), "--recipes", str(tmp_path / "recipes"), "--name", "tiny",
                      "--scales", "2", "--models-dir", str(tmp_path / "models"),
                      "--reference", str(tmp_path / "ref.json")]) == 0
    shipped, meta = read_checkpoint(tmp_path / "models" / "tiny_x2.safetensors")
    ema, _ = read_checkpoint(tmp_path / "runs" / "tiny_x2" / "b" / "checkpoints" / "iter_00000001" / "ema.safetensors")
    assert shipped.keys() == ema.keys() and all(torch.equal(shipped[k], ema[k]) for k in ema)
    assert meta["iterations"] == "1" and meta["initialised_from"] == "ema of stage a"
    assert meta["recipe"].endswith("tiny_x2.yaml") and meta["weights"].startswith("EMA")
    reference = json.loads((tmp_path / "ref.json").read_text())
    assert reference["tiny_x2"]["iterations"] == 1 and reference["tiny_x2"]["shape"] == [1, 3, 48, 64]


def test_run_all_runs_every_benchmark() -> None:
    script = (REPO / "benchmarks" / "run_all.sh").read_text()
    called = set(re.findall(r"benchmarks/(\w+)\.py", script))
    present = {p.stem for p in (REPO / "benchmarks").glob("*.py")}
    assert present <= called, f"not run by run_all.sh: {sorted(present - called)}"
    assert called <= present, f"run_all.sh names missing benchmarks: {sorted(called - present)}"
    subprocess.run(["bash", "-n", str(REPO / "benchmarks" / "run_all.sh")], check=True)


def test_run_all_quick_mode_calls_each_benchmark_once(tmp_path: Path) -> None:
    """With PYTHON=echo the script prints the command lines it would run: one per benchmark, quick sizes."""
    env = {"PATH": "/usr/bin:/bin", "PYTHON": "echo", "BENCH_OUT": str(tmp_path)}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "run_all.sh"), "--quick", "/data/shared"], env=env,
                          capture_output=True, text=True, check=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("benchmarks/")]
    scripts = [line.split()[0] for line in lines]
    expected = [f"benchmarks/{p.name}" for p in (REPO / "benchmarks").glob("*.py")]
    expected.append("benchmarks/upscale_memory.py")  # run twice: 4000x3000 and 1 MP
    expected.append("benchmarks/hspan_attention.py")  # run twice: the attention layers and --whole
    assert sorted(scripts) == sorted(expected)
    assert all("--minutes 1" in line for line in lines if "train.py" in line or "_candidates" in line
               or "seeds" in line)
    assert "--size 1000x750" in done.stdout and "/data/shared/datasets/Set14" in done.stdout
    assert (tmp_path / "infer.txt").is_file()


def test_realistic_components_switches_off_exactly_the_steps_left_out() -> None:
    """benchmarks/realistic_components.py: with every step the eval setting itself; with none, a flat grey
    image stays flat (no noise, no JPEG ringing); noise alone changes it; JPEG alone keeps it flat."""
    from attnsr.image.realistic import EVAL_REALISTIC, degrade_realistic

    tool = _module(REPO / "benchmarks" / "realistic_components.py")
    assert tool.restricted(EVAL_REALISTIC, set(tool.STEPS)) == EVAL_REALISTIC
    grey = torch.full((4, 3, 32, 32), 128 / 255)
    seeds = [1, 2, 3, 4]
    for keep, flat in ((set(), True), ({"blur"}, True), ({"jpeg"}, True), ({"noise"}, False)):
        lr = degrade_realistic(grey, 2, tool.restricted(EVAL_REALISTIC, keep), seeds)
        assert (float((lr - 128 / 255).abs().max()) < 1e-6) is flat, keep
    with pytest.raises(ValueError, match="sharpen"):
        tool.restricted(EVAL_REALISTIC, {"sharpen"})


def test_photo_candidates_train_on_t91_alone_unless_set_adds_the_extra_photos(tmp_path: Path) -> None:
    """benchmarks/photo_candidates.py keeps its documented comparisons on T91 although the shipped photo recipe
    also trains on data/extra-photos; ``--set`` brings them back."""
    tool = _module(REPO / "benchmarks" / "photo_candidates.py")
    assert yaml.safe_load(tool.RECIPE.read_text())["data"]["extra_hr_dirs"] == ["data/extra-photos"]
    plain = tool.recipe_dict(tmp_path / "t91", tmp_path / "out", "srvgg", {}, 10, 0.5)
    assert "extra_hr_dirs" not in plain["data"] and plain["data"]["hr_dir"] == str(tmp_path / "t91")
    added = tool.recipe_dict(tmp_path / "t91", tmp_path / "out", "srvgg", {}, 10, 0.5,
                             ("data.extra_hr_dirs=[data/extra-photos]",))
    assert added["data"]["extra_hr_dirs"] == ["data/extra-photos"]


def _debian_photos():
    return _module(REPO / "scripts" / "debian_photos.py")


def test_debian_photo_tiles_cover_the_image_once() -> None:
    tool = _debian_photos()
    img = np.arange(800 * 1283 * 3, dtype=np.int64).reshape(800, 1283, 3)
    parts = tool.tiles(img)
    assert len(parts) == 2 * 3 and all(370 <= t.shape[0] <= 430 and 400 <= t.shape[1] <= 430 for t in parts)
    values = np.concatenate([t[..., 0].ravel() for t in parts])
    assert np.array_equal(np.sort(values), np.sort(img[..., 0].ravel()))  # every pixel exactly once
    assert len(tool.tiles(img[:150, :150])) == 1


def test_debian_photos_halves_and_tiles_checked_files_and_rejects_a_changed_one(tmp_path: Path) -> None:
    import hashlib

    from PIL import Image

    from attnsr.image.resize import imresize

    tool = _debian_photos()
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (400, 1200, 3), dtype=np.uint8)
    src = tmp_path / "root" / "pkg" / "walls" / "Leaf.png"
    src.parent.mkdir(parents=True)
    Image.fromarray(photo).save(src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    entry = ("Leaf", ("pkg", "walls/{}.png"), digest)
    assert tool.make_tiles(tmp_path / "root", tmp_path / "out", [entry]) == 2
    half = imresize(photo, 0.5)  # 200 x 600: one row of two 300-wide tiles
    got = [np.asarray(Image.open(tmp_path / "out" / f"Leaf_0{k}.png")) for k in range(2)]
    assert np.array_equal(np.concatenate(got, axis=1), half)
    with pytest.raises(SystemExit, match=r"pkg: walls/Leaf.png: sha256 .* is not the pinned 0{64}"):
        tool.make_tiles(tmp_path / "root", tmp_path / "out2", [("Leaf", ("pkg", "walls/{}.png"), "0" * 64)])
    with pytest.raises(SystemExit, match="pkg: walls/Gone.png is missing"):
        tool.make_tiles(tmp_path / "root", tmp_path / "out2", [("Gone", ("pkg", "walls/{}.png"), digest)])


def test_debian_photos_provenance_names_every_pinned_photo() -> None:
    tool = _debian_photos()
    doc = (REPO / "data" / "debian-photos.md").read_text()
    assert len(tool.PHOTOS) == 19 and len({sha for *_, sha in tool.PHOTOS}) == 19
    for name, (package, _), _ in tool.PHOTOS:
        assert name in doc and package in tool.PACKAGES, name
    for package, version in tool.PACKAGES.items():
        assert f"`{package}` ({version})" in doc


def test_benchmark_shell_scripts_parse_and_are_documented() -> None:
    table = (REPO / "docs" / "benchmarks.md").read_text()
    for script in sorted((REPO / "benchmarks").glob("*.sh")):
        subprocess.run(["bash", "-n", str(script)], check=True)
        assert script.name == "run_all.sh" or f"`{script.name}`" in table, script.name


def test_photo_loss_probe_fine_tunes_with_l1_and_mse_and_scores_held_out_photos(tmp_path: Path) -> None:
    """With ATTNSR=echo the probe prints the commands it would run."""
    script = REPO / "benchmarks" / "photo_loss_probe.sh"
    env = {"PATH": "/usr/bin:/bin", "ATTNSR": "echo", "ATTNSR_SHARED": "/data/shared"}
    missing = subprocess.run(["bash", str(script), str(tmp_path)], env={**env, "PROBE_HELD": str(tmp_path / "no")},
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "not made yet; run .venv/bin/python scripts/debian_photos.py" in missing.stderr
    held = tmp_path / "held"
    held.mkdir()
    done = subprocess.run(["bash", str(script), str(tmp_path / "runs")], env={**env, "PROBE_HELD": str(held)},
                          capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    trains = [line for line in lines if line.startswith("train ")]
    assert [re.search(r"loss.pixel=(\w+)", t).group(1) for t in trains] == ["l1", "mse"]
    assert all("model.pretrained=attnsr/assets/models/attnsr-photo_x2.safetensors" in t for t in trains)
    evals = [line for line in lines if line.startswith("eval ")]
    assert len(evals) == 8 and sum("--degradation realistic --seed 0" in e for e in evals) == 4
    assert all(f"--dataset {held}" in e for e in evals)
    assert sum("--weights" in e for e in evals) == 6  # bicubic has none


def test_debian_photos_replaces_its_folder_only_when_every_tile_is_written(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from PIL import Image

    tool = _debian_photos()
    src = tmp_path / "leaf.png"
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(src)
    good = ("Leaf", ("pkg", "{}.png"), hashlib.sha256(src.read_bytes()).hexdigest())

    def fake_extract(debs: Path, root: Path) -> None:
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "Leaf.png").write_bytes(src.read_bytes())

    monkeypatch.setattr(tool, "extract", fake_extract)
    out = tmp_path / "data" / "tiles"
    out.mkdir(parents=True)
    (out / "old.png").write_bytes(b"old")
    monkeypatch.setattr(tool, "PHOTOS", [good, ("Gone", ("pkg", "{}.png"), "0" * 64)])
    with pytest.raises(SystemExit, match="pkg: Gone.png is missing"):
        tool.main(["--debs", str(tmp_path), "--out", str(out)])
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["tiles"]  # no staging folder left
    assert [p.name for p in out.iterdir()] == ["old.png"]  # the old folder is untouched
    monkeypatch.setattr(tool, "PHOTOS", [good])
    assert tool.main(["--debs", str(tmp_path), "--out", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == ["Leaf_00.png"]
