"""Starting from a PSNR-oriented checkpoint (ours or official), e.g. the GAN stage after pre-training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attnsr.errors import ConfigError
from attnsr.models import create, save_model
from attnsr.train.config import config_from_dict
from attnsr.train.distributed import DistContext
from attnsr.train.loop import build_run


def test_gan_run_starts_from_psnr_generator_and_shares_extractor(tmp_path: Path) -> None:
    torch.manual_seed(5)
    psnr_model = create("fssrgan", scale=4, nf=8, nb_e=1, nb_g=1)
    save_model(psnr_model, tmp_path / "pretrain.safetensors")
    official = tmp_path / "official.pth"  # the official per-part layout: {"E": sd_E, "G": sd_G}
    sd = psnr_model.state_dict()
    torch.save({"E": {k[2:]: v for k, v in sd.items() if k.startswith("E.")},
                "G": {k[2:]: v for k, v in sd.items() if k.startswith("G.")}}, official)
    for source in (tmp_path / "pretrain.safetensors", official):
        cfg = config_from_dict({
            "model": {"name": "fssrgan", "scale": 4, "options": {"nf": 8, "nb_e": 1, "nb_g": 1},
                      "pretrained": str(source)},
            "gan": {"enabled": True, "discriminator": "fssrgan_vgg192", "feature_weight": 0.0,
                    "discriminator_options": {"nf": 8, "nb_e": 1, "base_nf": 4, "patch_size": 32, "n_stages": 3}},
        })
        run = build_run(cfg, DistContext(), torch.device("cpu"))
        got = run.generator.state_dict()
        assert all(torch.equal(got[k], v) for k, v in sd.items()), source
        assert run.generator.training
        assert run.discriminator is not None and run.discriminator.E is run.generator.E
        # optimiser_D holds D and the shared E (spec Q10), optimiser_G holds E and G
        d_ids = {id(p) for g in run.opt_d.param_groups for p in g["params"]}
        assert {id(p) for p in run.generator.E.parameters()} <= d_ids


def test_pretrained_of_another_network_fails_early_naming_the_key(tmp_path: Path, shared: Path) -> None:
    import yaml

    from attnsr.cli.main import main

    torch.manual_seed(0)
    save_model(create("dfsa", scale=2, n_feats=8, n_resgroups=1, n_resblocks=1, reduction=4,
                      hpf_placement="none"), tmp_path / "dfsa_x2.safetensors")
    recipe = {"output_dir": str(tmp_path / "run"), "iterations": 1, "progress": False,
              "model": {"name": "rcan", "scale": 4, "options": {"n_feats": 16, "reduction": 4},
                        "pretrained": str(tmp_path / "dfsa_x2.safetensors")},
              "data": {"hr_dir": str(shared / "datasets" / "T91"), "num_workers": 0, "batch_size": 2}}
    with pytest.raises(ConfigError) as err:
        build_run(config_from_dict(recipe), DistContext(), torch.device("cpu"))
    msg = str(err.value)
    assert msg.startswith("model.pretrained: ") and "'rcan'" in msg and "'dfsa'" in msg and "\n" not in msg
    # the same recipe as a file through the CLI: one line, exit status 2, nothing written
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["train", str(path)]) == 2
    assert not (tmp_path / "run" / "checkpoints").exists()
    recipe["model"]["pretrained"] = ""
    recipe["model"]["options"] = {"n_feats": "32"}
    with pytest.raises(ConfigError, match=r"^model\.options\.n_feats: expected an integer, got '32'"):
        build_run(config_from_dict(recipe), DistContext(), torch.device("cpu"))
    recipe["model"]["options"] = {"n_feats": 16, "reduction": 4}
    recipe["model"]["pretrained"] = str(tmp_path / "dfsa_x2.safetensors")
    recipe["model"]["pretrained_strict"] = False  # a partial start still refuses another network
    wrong = r"^model\.pretrained: .*arch: the network is 'rcan', but the file holds 'dfsa'"
    with pytest.raises(ConfigError, match=wrong):
        build_run(config_from_dict(recipe), DistContext(), torch.device("cpu"))
