"""Channel attention by name, for the ``attn`` slot of a convolutional block.

``create_attn("se", 64)`` builds the module a block inserts after its last convolution, the way
timm's ``create_attn`` and torchvision's ``SqueezeExcitation`` are used: the block keeps one
call site and the attention becomes a constructor argument. Every module returns its output
``context`` and its ``weights``; :class:`ContextOnly` adapts one to a slot that expects a plain
tensor (an ``nn.Sequential``, a block whose ``forward`` cannot be changed).

=========  ===================================  ===========================================
name       module                               paper
=========  ===================================  ===========================================
``se``     :class:`SqueezeExcitation`           Hu et al. 2018, arXiv:1709.01507
``eca``    :class:`ECA`                         Wang et al. 2020, arXiv:1910.03151
``cbam``   :class:`CBAM`                        Woo et al. 2018, arXiv:1807.06521
``scse``   :class:`SCSE`                        Roy et al. 2018, arXiv:1803.02579
``ge``     :class:`GatherExcite`                Hu et al. 2018, arXiv:1810.12348 (GE-theta-)
=========  ===================================  ===========================================
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from attnlab.core.init_args import AttnModule, build, check_keywords
from attnlab.core.registry import Registry
from attnlab.vision.channel_attention import CBAM, ECA, SCSE, GatherExcite
from attnlab.vision.squeeze_excitation import SqueezeExcitation

__all__ = ["ATTENTION_LAYERS", "ContextOnly", "create_attn"]

ATTENTION_LAYERS: Registry[type[nn.Module]] = Registry("channel attention")
"""Name -> class of the modules :func:`create_attn` builds."""
for _name, _cls in (
    ("se", SqueezeExcitation),
    ("eca", ECA),
    ("cbam", CBAM),
    ("scse", SCSE),
    ("ge", GatherExcite),
):
    ATTENTION_LAYERS.register(_name, _cls)
del _name, _cls

_NO_CHANNELS = (GatherExcite,)
"""Parameter-free modules: they take no channel count."""


def create_attn(name: str, channels: int, **kwargs: Any) -> nn.Module:
    """The channel attention module called ``name`` for a ``channels``-channel feature map.

    Args:
        name: one of ``se``, ``eca``, ``cbam``, ``scse``, ``ge`` (see the module docstring).
        channels: ``C`` of the map; ``ge`` (parameter-free) checks it and does not use it.
        kwargs: the module's other constructor arguments (``reduction=``, ``kernel_size=``,
            ``extent=`` ...), unknown ones refused.

    Returns:
        The module, remembering its arguments for
        :func:`~attnlab.core.serialization.save_pretrained`. Its output is a ``NamedTuple``
        ``(context, weights, ...)`` with ``context`` of the input's shape ``(B, C, H, W)``.

    Raises:
        KeyError: an unknown name (:class:`~attnlab.core.registry.UnknownNameError`: the
            known names and the closest ones are listed).
        TypeError: a keyword the module does not take.

    Example:
        >>> import torch
        >>> se = create_attn("se", 64, reduction=16)
        >>> type(se).__name__, se.fc1.out_features
        ('SqueezeExcitation', 4)
        >>> tuple(se(torch.randn(2, 64, 8, 8)).context.shape)
        (2, 64, 8, 8)
    """
    cls = ATTENTION_LAYERS[name]
    check_keywords(cls, kwargs, f"create_attn({name!r})")
    if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
        raise ValueError(f"channels must be a positive int, got {channels!r}")
    if cls in _NO_CHANNELS:
        return build(cls, **kwargs)
    return build(cls, channels, **kwargs)


class ContextOnly(AttnModule):
    """An attention module that returns its ``context`` alone, for slots expecting a tensor.

    Args:
        attention: a module whose output has a ``context`` field (every attnlab module).

    Note:
        The weights are computed and dropped; call ``self.attention`` to see them.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> stem = nn.Sequential(nn.Conv2d(3, 16, 3), ContextOnly(create_attn("eca", 16)))
        >>> tuple(stem(torch.randn(2, 3, 10, 10)).shape)
        (2, 16, 8, 8)
    """

    def __init__(self, attention: nn.Module) -> None:
        super().__init__()
        self.attention = attention

    def forward(self, x: Tensor) -> Tensor:
        """The ``context`` field of the wrapped attention's output on ``x``."""
        return self.attention(x).context
