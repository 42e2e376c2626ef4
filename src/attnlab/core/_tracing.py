"""Whether ``torch.export`` is tracing the code, on every torch attnlab supports.

``torch.compiler.is_exporting`` appeared after torch 2.3 (attnlab's lowest); older versions have
no way to ask, and their exports take the eager code paths.
"""

from __future__ import annotations

import torch

__all__ = ["is_exporting"]


def is_exporting() -> bool:
    """``torch.compiler.is_exporting()``, or ``False`` on a torch without it.

    Code that ``torch.compile`` can run in pieces (with graph breaks) but a single exported graph
    cannot hold, such as packed sequences or a size read from the data, takes an equivalent
    static-shape path when this is ``True``.

    Example:
        >>> is_exporting()
        False
    """
    check = getattr(torch.compiler, "is_exporting", None)
    return bool(check()) if check is not None else False
