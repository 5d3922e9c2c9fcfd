"""Networks: the registry, official-checkpoint loading and our own weight format."""

from attnsr.models.checkpoint import CheckpointError, from_official, load_model, save_model
from attnsr.models.registry import NETWORK_MODULES, NETWORKS, NetworkEntry, all_entries, create, get_entry

__all__ = [
    "NETWORKS",
    "NETWORK_MODULES",
    "CheckpointError",
    "NetworkEntry",
    "all_entries",
    "create",
    "from_official",
    "get_entry",
    "load_model",
    "save_model",
]
