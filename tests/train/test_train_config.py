"""Typed configs: YAML at the edge, unknown keys and bad values are errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from attnsr.cli.main import main
from attnsr.errors import ConfigError
from attnsr.train.config import TrainConfig, apply_overrides, config_from_dict, dump_config, load_config


def test_defaults_and_yaml_number_coercion() -> None:
    cfg = config_from_dict({"optim": {"lr": "1e-4", "betas": [0.9, 0.99]}, "schedule": {"milestones": [10, 20]}})
    assert cfg.optim.lr == 1e-4 and cfg.optim.betas == (0.9, 0.99)
    assert cfg.schedule.milestones == (10, 20)
    assert config_from_dict({}) == TrainConfig()


@pytest.mark.parametrize("raw, key", [
    ({"optim": {"lrr": 1}}, "optim.lrr"),
    ({"bogus": 1}, "bogus"),
    ({"gan": {"optim_d": {"nme": "adam"}}}, "gan.optim_d.nme"),
])
def test_unknown_keys_name_the_key(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown config key {key}"):
        config_from_dict(raw, source="recipe.yaml")


@pytest.mark.parametrize("raw, key", [
    ({"iterations": "many"}, "iterations"),
    ({"data": {"batch_size": 2.5}}, "data.batch_size"),
    ({"optim": {"name": "sgd"}}, "optim.name"),
    ({"progress": "yes"}, "progress"),
    ({"gan": {"enabled": True}}, "gan.discriminator"),
    ({"data": {"hr_rescale": [1.0, 1.5]}}, "data.hr_rescale"),
    ({"data": {"hr_rescale": []}}, "data.hr_rescale"),
    ({"data": {"hr_rescale": [0.8, 0.8]}}, "data.hr_rescale"),
    ({"data": {"kind": "paired", "hr_rescale": [1.0, 0.9]}}, "data.hr_rescale"),
    ({"data": {"kind": "paired", "extra_hr_dirs": ["more"]}}, "data.extra_hr_dirs"),
    ({"data": {"extra_hr_dirs": "more"}}, "data.extra_hr_dirs"),
])
def test_bad_values_name_the_key(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_dict(raw)


def test_overrides_and_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("model: {name: rcan, scale: 2}\noptim: {lr: 1.0e-4}\n")
    cfg = load_config(path, ["optim.lr=2e-4", "model.options.n_feats=16", "data.batch_size=4"])
    assert cfg.optim.lr == 2e-4 and cfg.model.options == {"n_feats": 16} and cfg.data.batch_size == 4
    assert config_from_dict(yaml.safe_load(dump_config(cfg))) == cfg  # the saved config reproduces the run
    with pytest.raises(ConfigError, match="optim.lrr"):
        load_config(path, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["optim.lr"])


def test_cli_reports_config_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("optim: {learning_rate: 1}\n")
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "optim.learning_rate" in err and "r.yaml" in err
