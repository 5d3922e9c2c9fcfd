"""Settings of ``attnsr serve`` (one frozen dataclass, checked once) and the per-request options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from attnsr.errors import ConfigError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
RESPOND_MODES = ("auto", "image", "job")


@dataclass(frozen=True)
class ServeConfig:
    """How the server runs. Sizes are limits on what a client may send or ask for.

    ``max_pixels``: input width × height refused beyond this (the decompression-bomb guard);
    ``max_upload_bytes``: request bodies refused beyond this; ``queue_size``: jobs waiting (not running)
    before new ones get 503; ``sync_max_pixels``: ``respond=auto`` answers an image directly up to this
    many input pixels, a job id above; ``result_ttl_s``: finished jobs (and their result files) are
    forgotten this long after they end; ``temp_parent``: where the private upload folder is made
    (None: the system's temp folder).
    """

    model: str = "default"
    weights: tuple[Path, ...] = ()
    devices: tuple[str, ...] = ("auto",)
    max_pixels: int = 16_000_000
    max_upload_bytes: int = 64 << 20
    queue_size: int = 16
    sync_max_pixels: int = 512 * 512
    sync_timeout_s: float = 300.0
    result_ttl_s: float = 900.0
    engines_per_worker: int = 6
    temp_parent: Path | None = None
    default_scale: int = 2

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_upload_bytes", "queue_size", "sync_max_pixels", "engines_per_worker"):
            if getattr(self, name) < 1:
                raise ConfigError(f"serve: {name} must be at least 1, got {getattr(self, name)}")
        if self.sync_timeout_s <= 0 or self.result_ttl_s <= 0:
            raise ConfigError("serve: sync_timeout_s and result_ttl_s must be positive")
        if not self.devices:
            raise ConfigError("serve: give at least one device")


@dataclass(frozen=True)
class RequestOptions:
    """What one upscale request asks for, already checked against the catalogue of models."""

    model: str
    scale: int
    self_ensemble: bool = False
    tile: int | None = None
    before: bool = False
    respond: str = "auto"


def parse_bool(name: str, text: str | None, default: bool = False) -> bool:
    """A form field's true/false (``1/0``, ``true/false``, ``on/off``, ``yes/no``; empty = default)."""
    if text is None or text == "":
        return default
    value = text.strip().lower()
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no"):
        return False
    raise ConfigError(f"{name}: expected true or false, got {text!r}")


def parse_tile(text: str | None) -> int | None:
    """``auto``/empty -> None (from free memory), ``0`` -> whole image, N >= 8 -> N-pixel LR tiles."""
    if text is None or text.strip() in ("", "auto"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"tile: expected 'auto', 0 or a number of pixels, got {text!r}") from None
    if value < 0 or 0 < value < 8 or value > 4096:
        raise ConfigError(f"tile: use 0 (whole image), 'auto' or 8..4096 pixels, got {value}")
    return value


def parse_scale(text: str | None) -> int | None:
    if text is None or text.strip() == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"scale: expected an integer factor, got {text!r}") from None


def parse_respond(text: str | None) -> str:
    value = (text or "auto").strip().lower()
    if value not in RESPOND_MODES:
        raise ConfigError(f"respond: expected one of {', '.join(RESPOND_MODES)}, got {text!r}")
    return value
