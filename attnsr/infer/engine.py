"""The upscaling engine: any image size in bounded memory, inference-mode, optional self-ensemble.

``Upscaler(model).upscale(image)`` takes a PIL image, a numpy array (H×W, H×W×C; uint8, uint16 or float
in [0,1]) or a tensor ((3,H,W) or (N,3,H,W) in [0,1]) and returns the same kind. Grayscale stays
grayscale and alpha is carried through (upscaled with MATLAB bicubic).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, overload

import numpy as np
import torch
from torch import nn

from attnsr.errors import ConfigError, ImageError
from attnsr.image.resize import imresize
from attnsr.infer.adapters import _array_from_pil, _pil_from_array, _quantise, split_array
from attnsr.infer.memory import KEEP_FREED_BYTES, available_memory, keep_freed_memory, pick_device
from attnsr.infer.tiling import plan_axis, plan_tiles, self_ensemble, tiled_forward

#: re-exported: callers and tests import these from the engine module
__all__ = ["KEEP_FREED_BYTES", "CPU_CHANNELS_LAST", "EngineOptions", "PRECISIONS", "Upscaler", "_array_from_pil",
           "_pil_from_array", "_quantise", "available_memory", "choose_precision", "cost_optimal_tile",
           "default_channels_last", "fit_cost", "keep_freed_memory", "pad_border", "pick_device", "split_array"]

PRECISIONS = ("auto", "fp32", "fp16", "bf16")

#: channels_last by default on CPU (oneDNN convolutions then need no NCHW <-> blocked reorders).
CPU_CHANNELS_LAST = True


def activation_bytes_per_pixel(model: nn.Module, device: torch.device, probe: int = 24) -> float:
    """Bytes of the largest intermediate activation per LR input pixel, measured on a probe input.

    Inference keeps only a few activations alive at once, so a small multiple of this bounds the peak.
    """
    largest = 0

    def hook(_m: nn.Module, _i: Any, out: Any) -> None:
        nonlocal largest
        if isinstance(out, torch.Tensor):
            largest = max(largest, out.numel() * out.element_size())

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, probe, probe, device=device))
    finally:
        for h in handles:
            h.remove()
    return largest / (probe * probe)


@dataclass(frozen=True)
class EngineOptions:
    """How to run a model. ``tile``: LR tile size, 0 = whole image, None = automatic from free memory.

    ``channels_last``: NHWC memory format; None = the measured default of the device
    (:func:`default_channels_last`). ``compile``: ``torch.compile`` the model; on CPU it needs a C++
    compiler and costs minutes before the first output (see docs/benchmarks.md), so it is opt-in.
    """

    tile: int | None = None
    overlap: int = 16
    batch: int | None = None
    self_ensemble: bool = False
    #: "auto": fp16 on CUDA where the model's descriptor allows it, else fp32 (:func:`choose_precision`)
    precision: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    memory_fraction: float = 0.25
    #: cap of the activation budget on CPU: bigger tiles are not faster there, only hungrier
    cpu_budget_bytes: int = 1 << 30
    #: largest automatic LR tile on CPU. 1000x1000 x2, 2 threads, the default model (6-block
    #: 32-feature DFSA/MMCA): 256-px tiles 7.5 s, 384 6.6 s, 512 9.4 s (a 32-channel 384-px window's
    #: activations, 19 MB, still fit the 32 MB L3 cache; 512's do not). benchmarks/upscale_speed.py
    #: --tiles 256,384,512; docs/benchmarks.md.
    cpu_max_tile: int = 384
    live_activations: float = 8.0
    #: "mirror": mirror ``overlap`` pixels outward before the forward and crop them off after, so the
    #: borders of the output behave like its inside (Upscaler.border_pad); "none": the plain network, as
    #: the papers evaluate it (``attnsr eval``'s default)
    border: str = "mirror"

    def __post_init__(self) -> None:
        _check_options(self)


#: layers whose work grows with the square of the pixels one forward sees (every query against every key)
QUADRATIC_LAYERS = {"HSPA"}
#: seconds per counted FLOP of the quadratic part relative to the linear part. HSPAN x2 (official size),
#: 1 thread, 2-core EPYC: 64/96/128-px windows took 5.66 / 14.45 / 35.08 s (1.38 / 1.57 / 2.14 ms per
#: pixel); fitted through 96 and 128 px the quadratic share of the time is 3.6x its share of the FLOPs
#: (1.2x in a second, busier run; sparsemax's threshold search is not a counted FLOP, cache misses grow
#: with the map). benchmarks/hspan_tiles.py, docs/benchmarks.md.
QUADRATIC_TIME_WEIGHT = 4.0


def fit_cost(model: nn.Module, device: torch.device | str = "cpu", probes: tuple[int, int] = (12, 24)
             ) -> tuple[float, float]:
    """(c1, c2) with FLOPs(one forward of P pixels) = c1·P + c2·P², from FLOP counts at two small
    square probes (torch's FlopCounterMode: convolutions and matmuls)."""
    from attnsr.models.stats import count_flops

    was = model.training
    model.eval()
    try:
        (p1, f1), (p2, f2) = ((p * p, count_flops(model, p, p)) for p in probes)
    finally:
        model.train(was)
    c2 = max((f2 / p2 - f1 / p1) / (p2 - p1), 0.0)
    return max(f1 / p1 - c2 * p1, 0.0), c2


def cost_optimal_tile(height: int, width: int, overlap: int, c1: float, c2: float, *, largest: int) -> int:
    """The LR tile edge (multiple of 8, 32 to ``largest``, or ``largest`` itself) that minimises
    tiles × (c1·P + c2·P²), P = the pixels of one tile window (core plus ``overlap`` context). With
    c2 = 0 that is ``largest`` (fewest tiles); a quadratic term makes big windows expensive."""
    def cost(tile: int) -> float:
        ys, xs = plan_axis(height, tile, overlap), plan_axis(width, tile, overlap)
        p = (ys[0].win1 - ys[0].win0) * (xs[0].win1 - xs[0].win0)
        return len(ys) * len(xs) * (c1 * p + c2 * p * p)

    candidates = sorted({largest, *range(32, largest, 8)}, reverse=True)
    return min(candidates, key=cost)  # ties: the first, i.e. the largest tile


def _check_options(o: EngineOptions) -> None:
    """Each field's type and range; a ConfigError names the field."""
    def bad(name: str, want: str) -> ConfigError:
        return ConfigError(f"EngineOptions.{name}: expected {want}, got {getattr(o, name)!r}")

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if o.tile is not None and not (is_int(o.tile) and o.tile >= 0):
        raise bad("tile", "an integer >= 0 (0 = whole image) or None (automatic)")
    if not (is_int(o.overlap) and o.overlap >= 0):
        raise bad("overlap", "an integer >= 0")
    if o.batch is not None and not (is_int(o.batch) and o.batch >= 1):
        raise bad("batch", "an integer >= 1 or None (automatic)")
    for name in ("self_ensemble", "compile"):
        if not isinstance(getattr(o, name), bool):
            raise bad(name, "true/false")
    if o.channels_last is not None and not isinstance(o.channels_last, bool):
        raise bad("channels_last", "true/false or None (the device's default)")
    if o.precision not in PRECISIONS:
        raise bad("precision", f"one of {list(PRECISIONS)}")
    if o.border not in ("mirror", "none"):
        raise bad("border", "'mirror' or 'none'")
    if isinstance(o.memory_fraction, bool) or not isinstance(o.memory_fraction, (int, float)) \
            or not 0.0 < o.memory_fraction <= 1.0:
        raise bad("memory_fraction", "a number in (0, 1]")
    if not (is_int(o.cpu_budget_bytes) and o.cpu_budget_bytes > 0):
        raise bad("cpu_budget_bytes", "an integer > 0")
    if not (is_int(o.cpu_max_tile) and o.cpu_max_tile >= 32):
        raise bad("cpu_max_tile", "an integer >= 32")
    if isinstance(o.live_activations, bool) or not isinstance(o.live_activations, (int, float)) \
            or not o.live_activations > 0:
        raise bad("live_activations", "a number > 0")


#: on CPU, models with more than this many per-pixel dynamic filters (attnsr.ops.hpf) per convolution stay
#: NCHW: their broadcast multiply-adds run several times slower on NHWC operands (DFSA-EDSR, HPF in every
#: block: 0.68-0.89x with NHWC; DFSA, HPF once per group: 1.15x). See docs/benchmarks.md.
CPU_NHWC_MAX_HPF_PER_CONV = 0.05


def default_channels_last(device: torch.device, model: nn.Module | None = None) -> bool:
    """Whether NHWC is the faster layout on ``device`` (for ``model``) when the user did not say.

    CUDA: yes (tensor-core convolutions want NHWC). CPU: CPU_CHANNELS_LAST, chosen from the paired
    measurements in docs/benchmarks.md, except for models dense in dynamic high-pass filters.
    """
    if device.type == "cuda":
        return True
    if device.type != "cpu" or not CPU_CHANNELS_LAST:
        return False
    if model is None:
        return True
    from attnsr.ops.hpf import DynamicHighPass

    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    hpfs = sum(isinstance(m, DynamicHighPass) for m in model.modules())
    return hpfs <= CPU_NHWC_MAX_HPF_PER_CONV * max(convs, 1)


def choose_precision(requested: str, device_type: str, fp16_ok: bool) -> str:
    """The autocast precision to run: ``requested`` unless it is "auto", which means fp16 on CUDA for a
    model that runs correctly in fp16 (its descriptor's ``fp16``; Real-ESRGAN's default on CUDA too) and
    fp32 everywhere else (CPU fp16 is slow and inexact)."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    if requested != "auto":
        return requested
    return "fp16" if device_type == "cuda" and fp16_ok else "fp32"


class Upscaler:
    """Runs an SR model (RGB [0,1] in and out) on images of any size.

    ``model`` is any module mapping (N,3,h,w) to (N,3,h·s,w·s); ``chop(model, x)`` optionally replaces the
    model's forward by an official chopped forward (``NetworkEntry.chop``: HSPAN/FSANet reproduction),
    called with the engine's prepared copy, and disables tiling. ``scale`` defaults to the model's own;
    one that contradicts it is refused (ConfigError).

    The caller's ``model`` is left exactly as it was (training mode, device, ``requires_grad``, memory
    format, parameters): the engine runs its own prepared copy (:attr:`model`: eval mode, weight norm
    folded unless ``fold=False``, on ``device``, no gradients, channels_last when chosen), so the copy
    costs one more set of weights in memory.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        scale: int | None = None,
        device: str | torch.device = "auto",
        options: EngineOptions | None = None,
        chop: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
        fold: bool = True,
        **option_overrides: Any,
    ) -> None:
        base = options or EngineOptions()
        unknown = sorted(set(option_overrides) - set(base.__dict__))
        if unknown:
            raise ConfigError(f"Upscaler: unknown option(s) {unknown}; valid: {sorted(base.__dict__)}")
        opts = EngineOptions(**{**base.__dict__, **option_overrides})
        self.device = pick_device(device) if isinstance(device, str) else device
        if opts.channels_last is None:
            opts = replace(opts, channels_last=default_channels_last(self.device, model))
        self.scale = _checked_scale(model, scale)
        descriptor = _describe_or_none(model, self.scale)
        fp16_ok = descriptor is not None and descriptor.fp16  # no descriptor (no scale known): fp32
        opts = replace(opts, precision=choose_precision(opts.precision, self.device.type, fp16_ok))
        self.options = opts
        if self.device.type == "cpu" and self.options.precision == "fp16":
            raise ConfigError("precision fp16 is not supported on CPU (slow and inaccurate); use fp32 or bf16")
        from attnsr.ops.fold import copy_module, fold_for_inference

        # a copy, never the caller's module (fold_for_inference copies too)
        model = fold_for_inference(model) if fold else copy_module(model).eval()
        model = model.to(self.device)
        for p in model.parameters():
            p.requires_grad_(False)
        if self.options.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.model = model
        self._forward: Callable[[torch.Tensor], torch.Tensor] = (
            torch.compile(model) if self.options.compile else model
        )
        self.chop = chop
        self._bytes_per_px: float | None = None
        self._cost: tuple[float, float] | None = None
        self.descriptor = descriptor
        self._warned_tiles = False

    # ----------------------------------------------------------------- planning
    def tile_size(self, height: int, width: int) -> int:
        """LR tile edge for an image: the user's; or the largest that fits the memory budget, and for
        networks whose cost grows with the square of the pixels they see at once (global attention:
        HSPAN) the tile that minimises the estimated total time (:func:`cost_optimal_tile`)."""
        if self.options.tile is not None:
            return self.options.tile if self.options.tile > 0 else max(height, width)
        edge = self._memory_tile(height, width)
        d = self.descriptor
        if d is None or not set(d.global_layers) & QUADRATIC_LAYERS:
            return edge
        if self._cost is None:
            c1, c2 = fit_cost(self.model, self.device)
            self._cost = (c1, c2 * QUADRATIC_TIME_WEIGHT)
        return cost_optimal_tile(height, width, self.options.overlap, *self._cost, largest=edge)

    def _memory_tile(self, height: int, width: int) -> int:
        if self._bytes_per_px is None:
            self._bytes_per_px = activation_bytes_per_pixel(self.model, self.device)
        budget = available_memory(self.device) * self.options.memory_fraction
        if self.device.type == "cpu":
            budget = min(budget, self.options.cpu_budget_bytes)
        per_px = self._bytes_per_px * self.options.live_activations
        whole = max(height, width)
        # The whole image when its activations fit the device's share of free memory: on CPU it was
        # 1.58x faster than 384-px tiles (1 MP x2, bundled model, docs/benchmarks.md), and it is the only
        # exact choice for models with global layers (self.descriptor.tiles_exact).
        share = available_memory(self.device) * self.options.memory_fraction
        if height * width * per_px <= share:
            return whole
        edge = int(math.sqrt(max(budget, 1) / max(per_px, 1.0)))
        if self.descriptor is not None and not self.descriptor.tiles_exact:
            edge = int(math.sqrt(max(share, 1) / max(per_px, 1.0)))  # fewest tiles memory allows
            cap = 4096
        else:
            cap = 2048 if self.device.type != "cpu" else self.options.cpu_max_tile
        edge = max(32, min(edge, cap)) // 8 * 8
        return whole if edge >= whole else edge

    def _batch_size(self, n_tiles: int) -> int:
        if self.options.batch is not None:
            return max(1, self.options.batch)
        # On CPU a batch of tiles is no faster than tiles one by one and costs memory; on GPU it fills the device.
        return 1 if self.device.type == "cpu" else min(n_tiles, 8)

    # ----------------------------------------------------------------- running
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.options.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.float16 if self.options.precision == "fp16" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """One forward of an (N,3,h,w) batch; the output stays in the layout the model produced
        (a channels_last result is consumed by slicing and copying, never made contiguous here)."""
        if self.options.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            y = self.chop(self.model, x) if self.chop is not None else self._forward(x)
        return y if y.dtype == torch.float32 else y.float()

    def _run_maybe_ensemble(self, x: torch.Tensor) -> torch.Tensor:
        return self_ensemble(self._run, x) if self.options.self_ensemble else self._run(x)

    @overload
    def upscale_tensor(self, lr: torch.Tensor, *, sink: None = None,
                       progress: Callable[[int], object] | None = None) -> torch.Tensor: ...

    @overload
    def upscale_tensor(self, lr: torch.Tensor, *, sink: Callable[[int, int, int, int, torch.Tensor], None],
                       progress: Callable[[int], object] | None = None) -> None: ...

    def upscale_tensor(
        self,
        lr: torch.Tensor,
        *,
        sink: Callable[[int, int, int, int, torch.Tensor], None] | None = None,
        progress: Callable[[int], object] | None = None,
    ) -> torch.Tensor | None:
        """(N,3,H,W) or (3,H,W) float in [0,1] -> SR of the same layout (float, not clamped)."""
        squeeze = lr.dim() == 3
        batch = lr.unsqueeze(0) if squeeze else lr
        if batch.dim() != 4 or batch.shape[1] != 3 or 0 in batch.shape:
            raise ImageError(f"expected an image tensor (3,H,W) or (N,3,H,W) with H, W > 0, got {tuple(lr.shape)}")
        if not batch.is_floating_point():
            raise ImageError(f"expected a float image tensor in [0,1], got {batch.dtype}")
        outs: list[torch.Tensor | None] = []
        with torch.inference_mode():
            for i in range(batch.shape[0]):
                x = batch[i : i + 1].to(self.device, torch.float32)
                if self.chop is not None:
                    y = self._run_maybe_ensemble(x)
                    if sink is not None:
                        sink(0, y.shape[-2], 0, y.shape[-1], y)
                    outs.append(y)
                    continue
                pad = self.border_pad(*x.shape[-2:])
                inner = sink if sink is None or not pad else _cropping_sink(sink, pad * self.scale,
                                                                             (x.shape[-2], x.shape[-1]), self.scale)
                x = pad_border(x, pad)
                h, w = x.shape[-2:]
                tile = self.tile_size(h, w)
                n_tiles = len(plan_tiles(h, w, tile, self.options.overlap))
                if n_tiles == 1 and sink is None:  # whole image: no window copy, no stitching copy
                    outs.append(_crop_border(self._run_maybe_ensemble(x), pad * self.scale))
                    if progress is not None:
                        progress(1)
                    continue
                self._warn_inexact_tiles(n_tiles)
                tiled = tiled_forward(
                    self._run_maybe_ensemble, x, self.scale, tile=tile, overlap=self.options.overlap,
                    batch=self._batch_size(n_tiles), sink=inner, progress=progress,
                )
                outs.append(None if tiled is None else _crop_border(tiled, pad * self.scale))
        if sink is not None:
            return None
        whole = [o for o in outs if o is not None]  # no sink: every image was returned
        out = (whole[0] if len(whole) == 1 else torch.cat(whole)).contiguous()  # NCHW for the caller
        return out[0] if squeeze else out

    def _warn_inexact_tiles(self, n_tiles: int) -> None:
        d = self.descriptor
        if n_tiles > 1 and d is not None and not d.tiles_exact and not self._warned_tiles:
            self._warned_tiles = True
            import warnings

            from attnsr.errors import AttnsrWarning

            warnings.warn(f"{d.name}: tiling into {n_tiles} tiles changes this model's output slightly (its "
                          f"{', '.join(d.global_layers)} see only each tile); --tile 0 runs the whole image",
                          AttnsrWarning, stacklevel=3)

    def count_tiles(self, height: int, width: int) -> int:
        """How many tiles an LR image of this size is cut into (for progress bars)."""
        if self.chop is not None:
            return 1
        pad = self.border_pad(height, width)
        h, w = height + 2 * pad, width + 2 * pad
        return len(plan_tiles(h, w, self.tile_size(h, w), self.options.overlap))

    def border_pad(self, height: int, width: int) -> int:
        """LR pixels of padding added on every side before the forward (0: the plain network).

        With ``border="mirror"`` the image is mirrored outward by ``options.overlap`` pixels (the context
        that tiling already treats as the network's receptive field), so the network's zero padding
        falls outside the image and its borders are computed like its inside; the padding is cropped
        from the output. Off for the official chopped forward and for models that handle borders
        themselves (bicubic)."""
        if self.options.border == "none" or self.chop is not None:
            return 0
        if getattr(self.model, "exact_borders", False):
            return 0
        return self.options.overlap

    def upscale(self, image: Any) -> Any:
        """Upscale a PIL image, numpy array or tensor; returns the same kind (see module docstring)."""
        if isinstance(image, torch.Tensor):
            return self.upscale_tensor(image)
        if isinstance(image, np.ndarray):
            return self.upscale_array(image)
        from PIL import Image

        if isinstance(image, Image.Image):
            return _pil_from_array(self.upscale_array(_array_from_pil(image)), image.mode)
        raise ImageError(f"upscale expects a PIL image, numpy array or tensor, got {type(image).__name__}")

    def upscale_array(
        self, array: np.ndarray, *, progress: Callable[[int], object] | None = None
    ) -> np.ndarray:
        """H×W / H×W×1 / H×W×3 / H×W×4 array (uint8, uint16 or float in [0,1]) -> upscaled, same dtype.

        Integer outputs are quantised tile by tile straight into the result, so the float SR image of a
        large photo is never held in memory at once.
        """
        rgb, alpha, gray, maxval = split_array(array)
        h, w = rgb.shape[-2:]
        s = self.scale
        channels = 1 if gray else 3
        out = np.empty((h * s, w * s, channels + (alpha is not None)), dtype=array.dtype)

        def sink(y0: int, y1: int, x0: int, x1: int, sr: torch.Tensor) -> None:
            core = sr[0].clamp(0, 1)
            if gray:
                core = core.mean(0, keepdim=True)
            values = core.permute(1, 2, 0).cpu().numpy()
            out[y0:y1, x0:x1, :channels] = _quantise(values, array.dtype, maxval)

        self.upscale_tensor(rgb, sink=sink, progress=progress)
        if alpha is not None:
            up = imresize(alpha[0].numpy().astype(np.float64), float(s))
            out[:, :, channels] = _quantise(np.clip(up, 0, 1), array.dtype, maxval)
        return out[:, :, 0] if array.ndim == 2 else out


def pad_border(x: torch.Tensor, pad: int) -> torch.Tensor:
    """(N,C,H,W) -> (N,C,H+2·pad,W+2·pad), mirrored with the edge pixel repeated (MATLAB's 'symmetric',
    the padding imresize itself uses, so it continues an LR image the way it was made). Sides shorter
    than ``pad`` are mirrored repeatedly: a 1-pixel image becomes a flat one.

    Measured (benchmarks/borders.py): this keeps Set5/Set14 PSNR within 0.01 dB of the plain network;
    PyTorch's 'reflect' (edge pixel not repeated) cost 0.03-0.06 dB and 'replicate' 0.03-0.05 dB."""
    if pad <= 0:
        return x
    rows = _mirror_index(x.shape[-2], pad, x.device)
    cols = _mirror_index(x.shape[-1], pad, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def _mirror_index(n: int, pad: int, device: torch.device) -> torch.Tensor:
    """Source index of each of the n + 2·pad positions of a symmetric extension (period 2n)."""
    j = torch.arange(-pad, n + pad, device=device) % (2 * n)
    return torch.where(j >= n, 2 * n - 1 - j, j)


def _crop_border(y: torch.Tensor, p: int) -> torch.Tensor:
    return y if p == 0 else y[..., p : y.shape[-2] - p, p : y.shape[-1] - p]


def _cropping_sink(sink: Callable[[int, int, int, int, torch.Tensor], None], p: int,
                   size: tuple[int, int], scale: int) -> Callable[[int, int, int, int, torch.Tensor], None]:
    """A sink for a padded image's SR that hands ``sink`` only the pixels of the original image."""
    height, width = size[0] * scale, size[1] * scale

    def inner(y0: int, y1: int, x0: int, x1: int, core: torch.Tensor) -> None:
        a0, a1 = max(y0 - p, 0), min(y1 - p, height)
        b0, b1 = max(x0 - p, 0), min(x1 - p, width)
        if a0 < a1 and b0 < b1:
            sink(a0, a1, b0, b1, core[..., a0 + p - y0 : a1 + p - y0, b0 + p - x0 : b1 + p - x0])

    return inner


def _describe_or_none(model: nn.Module, scale: int) -> Any:
    """The model's :class:`~attnsr.models.descriptor.ModelDescriptor`, or None for a foreign module."""
    from attnsr.models.descriptor import describe

    try:
        return describe(model, scale)
    except (ValueError, TypeError):
        return None


def _model_scale(model: nn.Module) -> int | None:
    cfg = getattr(model, "attnsr_config", None)
    scale = getattr(cfg, "scale", None) or getattr(model, "scale", None)
    return scale if isinstance(scale, int) and not isinstance(scale, bool) else None


def _checked_scale(model: nn.Module, asked: int | None) -> int:
    """The scale to run: the model's own, or ``asked`` when the model does not record one."""
    own = _model_scale(model)
    if asked is None:
        if own is None:
            raise ConfigError("cannot tell the model's scale: pass Upscaler(model, scale=...)")
        return own
    if isinstance(asked, bool) or not isinstance(asked, int) or asked < 1:
        raise ConfigError(f"Upscaler: scale: expected an integer >= 1, got {asked!r}")
    if own is not None and asked != own:
        name = getattr(model, "attnsr_name", type(model).__name__)
        raise ConfigError(f"Upscaler: scale: asked x{asked}, but the model ({name}) is x{own}")
    return asked
