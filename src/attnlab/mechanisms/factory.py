"""Any registered mechanism by its registry name: ``attnlab.create("multihead", dim=64,
num_heads=8)``.

The names are those of :func:`attnlab.list_mechanisms` (``attnlab list`` prints them); the
keyword arguments are the class's constructor arguments. A configuration file or a command line
can then name the attention it wants, as timm's ``create_model`` names a model.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from attnlab.core.init_args import build, check_keywords
from attnlab.core.registry import MechanismEntry, Registry, list_mechanisms

__all__ = ["create"]


def create(name: str, /, **kwargs: Any) -> nn.Module:
    """Build the mechanism registered as ``name`` with the constructor arguments ``kwargs``.

    Args:
        name: a registry name (``"multihead"``, ``"additive"``, ``"squeeze_excitation"`` ...).
        kwargs: the class's keyword arguments; unknown ones are refused.

    Returns:
        The module, remembering its arguments for
        :func:`~attnlab.core.serialization.save_pretrained`.

    Raises:
        KeyError: an unknown name (:class:`~attnlab.core.registry.UnknownNameError`: the
            registered names and the closest ones are listed).
        TypeError: a keyword the class does not take, or a missing required one.

    Example:
        >>> import torch
        >>> attn = create("multihead", dim=16, num_heads=4)
        >>> type(attn).__name__
        'MultiHeadAttention'
        >>> x = torch.randn(2, 5, 16)
        >>> tuple(attn(x, x, x).weights.shape)
        (2, 4, 5, 5)
    """
    mechanisms: Registry[MechanismEntry] = Registry("mechanism")
    for entry in list_mechanisms():
        mechanisms.register(entry.name, entry)
    cls = mechanisms[name].cls
    check_keywords(cls, kwargs, f"mechanism {name!r} ({cls.__qualname__})")
    return build(cls, **kwargs)
