"""Inference form of a network: weight norm folded into plain convolution weights.

During training weight norm recomputes ``v * g / ||v||`` on every forward; at inference the product is a
constant, so it can be computed once. :func:`fold_for_inference` handles the three ways a module can
carry weight norm:

* :class:`attnsr.ops.weight_norm.WNConv2d` (ours; keys ``weight_g``/``weight_v``) -> ``nn.Conv2d``;
* the legacy ``torch.nn.utils.weight_norm`` forward-pre-hook -> the hook is removed, ``weight`` kept;
* ``torch.nn.utils.parametrizations.weight_norm`` -> the parametrization is removed, ``weight`` kept.

Other eval-time simplifications applied: eval mode and ``requires_grad=False`` on every parameter (no
autograd bookkeeping). Deliberately NOT done: merging the frozen 1x1 MeanShift into the following 3x3
conv, or two consecutive convs into one; with zero padding those merges change border pixels.

The folded model's state dict uses ``weight`` instead of ``weight_g``/``weight_v``: it is for running,
not for saving as an official-format checkpoint.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.weight_norm import WeightNorm

from attnsr.ops.weight_norm import WNConv2d


def _has_legacy_hook(module: nn.Module) -> bool:
    return any(isinstance(h, WeightNorm) for h in module._forward_pre_hooks.values())


def copy_module(model: nn.Module) -> nn.Module:
    """Deep copy that also works with the legacy weight-norm hook.

    The legacy hook leaves a non-leaf tensor in ``module.weight`` that ``copy.deepcopy`` refuses; it is
    recomputed by the hook on every forward anyway, so the copy is made with those tensors replaced by
    detached placeholders through the deepcopy memo (``model`` itself is not modified).
    """
    memo: dict[int, object] = {}
    for module in model.modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm):
                stale = getattr(module, hook.name)
                memo[id(stale)] = stale.detach().clone()
    return copy.deepcopy(model, memo)


def _fold_legacy(module: nn.Module) -> None:
    for hook in list(module._forward_pre_hooks.values()):
        if isinstance(hook, WeightNorm):
            torch.nn.utils.remove_weight_norm(module, hook.name)


def _fold_parametrized(module: nn.Module) -> None:
    """Replace every parametrized tensor by a plain parameter holding its current value.

    Not ``parametrize.remove_parametrizations``: it deletes the property from the module's dynamic
    class, which a deep copy shares with the original, and would so break the caller's model.
    """
    with torch.no_grad():
        values = {name: getattr(module, name).detach().clone() for name in getattr(module, "parametrizations")}
    module.__class__ = parametrize.type_before_parametrizations(module)
    del module.parametrizations
    for name, value in values.items():
        module.register_parameter(name, nn.Parameter(value))


def _fold_children(parent: nn.Module) -> None:
    for name, child in list(parent.named_children()):
        if isinstance(child, WNConv2d):
            setattr(parent, name, child.to_conv2d())
            continue
        if _has_legacy_hook(child):
            _fold_legacy(child)
        if parametrize.is_parametrized(child):
            _fold_parametrized(child)
        _fold_children(child)


def fold_for_inference(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every weight norm folded into plain weights.

    The input model is left unchanged (same parameters, hooks and mode). The copy computes the same
    function (up to float rounding of the folded product, ~1e-7 relative) without recomputing weight
    norms, and has ``requires_grad=False`` everywhere. Attributes set on the model (e.g. ``scale`` or the
    registry tags) are kept.
    """
    folded = copy_module(model).eval()  # eval first: parametrizations then yield their eval-time value
    if isinstance(folded, WNConv2d):
        folded = folded.to_conv2d()
    else:
        if _has_legacy_hook(folded):
            _fold_legacy(folded)
        if parametrize.is_parametrized(folded):
            _fold_parametrized(folded)
        _fold_children(folded)
    folded.requires_grad_(False)
    setattr(folded, "attnsr_folded", True)  # its keys no longer match the network's: save_model refuses it
    return folded
