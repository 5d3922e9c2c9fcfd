"""Training: typed configs, the loop, sr/gan steps, losses, optimisers, checkpoints, distributed set-up,
and multi-stage recipes."""

from attnsr.train.config import TrainConfig, config_from_dict, dump_config, load_config
from attnsr.train.loop import TrainResult, train
from attnsr.train.stages import Stage, load_plan, plan_from_dict, train_plan

__all__ = ["Stage", "TrainConfig", "TrainResult", "config_from_dict", "dump_config", "load_config", "load_plan",
           "plan_from_dict", "train", "train_plan"]
