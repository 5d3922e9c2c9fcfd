"""Distributed data-parallel set-up for ``torchrun`` (NCCL on GPUs, gloo on CPU).

A process started by ``torchrun`` sees RANK, WORLD_SIZE, LOCAL_RANK (and LOCAL_WORLD_SIZE); a plain
``python`` process is a world of one and nothing here touches ``torch.distributed``. Device selection is
per node: process LOCAL_RANK uses ``cuda:LOCAL_RANK``. Only rank 0 logs, validates and saves; the other
ranks wait at :func:`barrier`, so every rank runs the same sequence of collective calls (no deadlock).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from attnsr.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: global rank, world size, rank within the node, processes on the node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_env() -> DistContext:
    """Read torchrun's environment (defaults: a single process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    return DistContext(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")),
                       local_world)


def select_device(requested: str, ctx: DistContext) -> torch.device:
    """``auto``: this node's GPU LOCAL_RANK when CUDA is available, else CPU. ``cuda`` requires a GPU."""
    if requested == "cpu":
        return torch.device("cpu")
    if requested in ("auto", "cuda"):
        if torch.cuda.is_available():
            if ctx.local_rank >= torch.cuda.device_count():
                raise ConfigError(f"device: LOCAL_RANK {ctx.local_rank} but only {torch.cuda.device_count()} GPUs")
            return torch.device("cuda", ctx.local_rank)
        if requested == "cuda":
            raise ConfigError("device: cuda requested but no CUDA device is available")
        return torch.device("cpu")
    if requested.startswith("cuda:"):
        return torch.device(requested)
    raise ConfigError(f"device: unknown device {requested!r}; use auto, cpu, cuda or cuda:<n>")


def init(ctx: DistContext, device: torch.device) -> None:
    """Join the process group (NCCL for CUDA devices, gloo otherwise); no-op for a world of one."""
    if not ctx.enabled or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ctx.rank,
                            world_size=ctx.world_size)


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.barrier()


def broadcast_module(module: nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's parameters and buffers to every rank (what DDP does at construction)."""
    if not ctx.enabled:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def average_gradients(params: Iterable[torch.Tensor], ctx: DistContext) -> None:
    """All-reduce the existing gradients in one flat buffer and divide by the world size.

    Used by the GAN step, where the shared extractor belongs to two optimisers and D is frozen during the
    G step — patterns that DDP's per-module hooks do not handle."""
    if not ctx.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def wrap_ddp(model: nn.Module, ctx: DistContext, device: torch.device, probe: int = 16) -> nn.Module:
    """DDP wrapper for the sr-step (gradients averaged during backward); the model itself when alone.

    Parameters that get no gradient are found with one probe forward of a ``probe``-pixel input and
    named on stderr; DDP is then told to look for them (instead of failing at the second iteration)."""
    if not ctx.enabled:
        return model
    import sys

    from torch.nn.parallel import DistributedDataParallel

    unused = unused_parameters(model, device, probe)
    if unused and ctx.is_main:
        shown = ", ".join(unused[:4]) + (" ..." if len(unused) > 4 else "")
        print(f"model: {len(unused)} parameter tensor(s) get no gradient ({shown}); DDP runs with "
              "find_unused_parameters=True", file=sys.stderr)
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                   find_unused_parameters=bool(unused))


def unused_parameters(model: nn.Module, device: torch.device, probe: int = 16) -> list[str]:
    """Names of the trainable parameters that one forward/backward of a (1,3,probe,probe) input leaves
    without a gradient (DDP must be told about them, or its second iteration fails).

    The probe changes nothing: the RNG state, the buffers and the gradients are restored."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    saved_grads = {n: p.grad for n, p in params.items()}
    saved_buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            for p in params.values():
                p.grad = None
            out = model(torch.zeros(1, 3, probe, probe, device=device))
            out = out[0] if isinstance(out, (tuple, list)) else out
            out.float().sum().backward()
        return [n for n, p in params.items() if p.grad is None]
    finally:
        for n, p in params.items():
            p.grad = saved_grads[n]
        with torch.no_grad():
            for n, b in model.named_buffers():
                b.copy_(saved_buffers[n])


def all_mean(value: float, ctx: DistContext, device: torch.device) -> float:
    """Mean of a scalar over ranks (for logging the loss of the whole global batch)."""
    if not ctx.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / ctx.world_size


def any_rank(flag: bool, ctx: DistContext, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one (so all ranks stop at the same iteration)."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)
