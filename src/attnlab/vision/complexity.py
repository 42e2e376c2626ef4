"""Parameter and operation counts in the conventions of the papers' tables.

Convention:
    * :func:`count_flops` is PyTorch's own counter (``torch.utils.flop_counter.FlopCounterMode``).
      It counts convolutions and matrix products only, two FLOPs per multiply-add
      (``2 * C_in * C_out * k * k * H_out * W_out`` for a convolution, biases ignored), and no
      element-wise operation, pooling or normalisation.
    * The papers (He et al. 2015, Hu et al. 2018) print "GFLOPs" that are **multiply-adds**:
      :func:`count_multiply_adds` halves the counter's total, and with ``gating=True`` adds the
      element-wise work of every :class:`~attnlab.vision.squeeze_excitation.SqueezeExcitation`
      call, which the counter does not see: one addition per input element for the squeeze
      (global pooling) and one multiplication per element for the scaling. This reproduces the
      ResNet-50 / SE-ResNet-50 pair of the SE paper (3.86 -> 3.87 GFLOPs at 224 x 224) and
      BN-Inception / SE-BN-Inception (2.03 -> 2.04) and SE-ResNet-152 (11.32). The paper does
      not state its counting rules: its ResNet-101 / SE-ResNet-101 / ResNet-152 / ResNeXt-50 /
      SE-ResNeXt-50 values are 0.01-0.02 GFLOPs above this count. Counting also one addition
      per element of every residual summation would reproduce those baselines (7.58, 11.30,
      4.24) but give 3.88 for SE-ResNet-50; no single rule found reproduces every row.
    * The papers print parameter counts in millions with one decimal, and their values are the
      exact counts rounded *up* (:func:`millions_rounded_up`): rounding to nearest would give
      35.6M / 30.6M / 26.8M (``r`` = 4 / 8 / 32) and 26.3M (SE in stage 4 only) where Tables 10
      and 13 of the SE paper print 35.7M / 30.7M / 26.9M and 26.4M.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from attnlab.vision.squeeze_excitation import SqueezeExcitation

__all__ = ["count_flops", "count_multiply_adds", "count_parameters", "millions_rounded_up"]


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (every element of every parameter tensor).

    Example:
        >>> count_parameters(torch.nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in module.parameters())


def millions_rounded_up(count: int) -> float:
    """``count`` in millions, rounded up to one decimal, as the papers' tables print it.

    Example:
        >>> millions_rounded_up(35_635_688)
        35.7
    """
    return -(-count // 100_000) / 10


def count_flops(module: nn.Module, *inputs: Any) -> int:
    """FLOPs of one forward pass, as ``torch.utils.flop_counter.FlopCounterMode`` counts them.

    Inputs may live on the ``meta`` device (with the module built there too): the count only
    needs shapes and runs in milliseconds.

    Example:
        >>> count_flops(torch.nn.Linear(3, 2), torch.zeros(5, 3))  # 2 * 5 * 3 * 2
        60
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs)
    return int(counter.get_total_flops())


def count_multiply_adds(module: nn.Module, *inputs: Any, gating: bool = True) -> int:
    """Multiply-adds of one forward pass, the papers' "FLOPs" (see the module Convention).

    Args:
        module: the model.
        *inputs: its positional inputs (``meta`` tensors work).
        gating: add ``2 * B * C * H * W`` for every
            :class:`~attnlab.vision.squeeze_excitation.SqueezeExcitation` block applied to a
            ``(B, C, H, W)`` map (its squeeze and its scaling, fused or not with a residual
            summation).

    Example:
        >>> from attnlab.vision.resnet import resnet50
        >>> x = torch.empty(1, 3, 224, 224, device="meta")
        >>> round(count_multiply_adds(resnet50(device="meta"), x) / 1e9, 2)
        3.86
    """
    extra = 0
    # Residual blocks call SqueezeExcitation.channel_gates and fuse the scaling with their
    # summation, so a forward hook would miss them: wrap channel_gates on each instance while
    # counting (the wrapper lives in the instance __dict__ and is removed afterwards).
    blocks = [m for m in module.modules() if isinstance(m, SqueezeExcitation)] if gating else []

    def counting(gates_fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
        def wrapped(x: Tensor) -> Tensor:
            nonlocal extra
            extra += 2 * x.numel()
            return gates_fn(x)

        return wrapped

    for m in blocks:
        m.__dict__["channel_gates"] = counting(m.channel_gates)
    try:
        flops = count_flops(module, *inputs)
    finally:
        for m in blocks:
            del m.__dict__["channel_gates"]
    return flops // 2 + extra
