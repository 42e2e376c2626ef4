"""Configuration of the ``hu2018_se_overhead`` experiment.

Hu, Shen, Albanie, Sun, Wu, "Squeeze-and-Excitation Networks", https://arxiv.org/abs/1709.01507,
section 4, "Model and Computational Complexity": on a CPU, inference on one 224 x 224 image takes
164 ms with ResNet-50 and 167 ms with SE-ResNet-50 (r = 16).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OverheadConfig"]


@dataclass(frozen=True)
class OverheadConfig:
    """Input, batch sizes and repetitions of the timing."""

    image_size: int = 224  # section 4: "a 224 x 224 pixel input image"
    batch_sizes: tuple[int, ...] = (1, 32)  # 1: the paper's single image; 32: batched (ours)
    reduction: int = 16  # r of SE-ResNet-50 (Table 10, the paper's default)
    repeats: int = 30  # timed forward passes per model at batch size 1 (median reported)
    repeats_batched: int = 7  # timed forward passes per model at batch sizes > 1
    warmup: int = 3  # untimed passes per model and batch size before timing
    threads: int = 0  # torch intra-op threads; 0 keeps the process default (OMP_NUM_THREADS)

    def __post_init__(self) -> None:
        if self.image_size < 32:
            raise ValueError(
                f"image_size must be >= 32 (five stride-2 stages), got {self.image_size}"
            )
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise ValueError(f"batch_sizes must be >= 1, got {self.batch_sizes}")
        if not 1 <= self.reduction <= 256:  # the narrowest SE block sees 256 channels
            raise ValueError(f"reduction must be in 1..256, got {self.reduction}")
        if self.repeats < 1 or self.repeats_batched < 1:
            raise ValueError(
                f"repeats and repeats_batched must be >= 1, got {self.repeats}, "
                f"{self.repeats_batched}"
            )
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0: process default), got {self.threads}")

    @classmethod
    def smoke(cls) -> OverheadConfig:
        """A 64 x 64 input, three timed passes: exercises the code in seconds (the ratio at this
        size says nothing about the paper's claim)."""
        return cls(image_size=64, batch_sizes=(1,), repeats=3, warmup=1)
