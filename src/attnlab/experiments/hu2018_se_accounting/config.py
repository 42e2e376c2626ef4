"""Configuration of the ``hu2018_se_accounting`` experiment.

Hu, Shen, Albanie, Sun, Wu, "Squeeze-and-Excitation Networks", https://arxiv.org/abs/1709.01507:
parameters and GFLOPs of the ImageNet models (Tables 2, 10, 13, 15). Nothing is trained: the
models are built on the ``meta`` device and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from attnlab.experiments.hu2018_se_accounting.table import ROW_KEYS

__all__ = ["AccountingConfig"]


@dataclass(frozen=True)
class AccountingConfig:
    """Which rows to count, and at which input size."""

    image_size: int = 224  # section 4 "Model and Computational Complexity", Table 2: 224 x 224
    models: tuple[str, ...] = ROW_KEYS  # rows of Tables 2, 10, 13, 15 (table.py); all by default

    def __post_init__(self) -> None:
        if self.image_size < 32:
            raise ValueError(
                f"image_size must be >= 32 (five stride-2 stages), got {self.image_size}"
            )
        if not self.models:
            raise ValueError("models must name at least one row")
        unknown = [m for m in self.models if m not in ROW_KEYS]
        if unknown:
            raise ValueError(
                f"models: unknown {', '.join(unknown)}; expected some of {', '.join(ROW_KEYS)}"
            )
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models lists a row twice: {self.models}")
