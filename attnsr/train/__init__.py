"""Training: typed configs, the loop, sr/gan steps, losses, optimisers, checkpoints, distributed set-up."""

from attnsr.train.config import TrainConfig, config_from_dict, dump_config, load_config
from attnsr.train.loop import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "config_from_dict", "dump_config", "load_config", "train"]
