"""Configuration of the ``vinyals2015_pointer`` experiment.

Vinyals, Fortunato, Jaitly, "Pointer Networks", https://arxiv.org/abs/1506.03134. The defaults
are the paper's settings (section 4): a single-layer LSTM of 512 units, uniform initialisation in
``[-0.08, 0.08]``, SGD with learning rate 1.0, batch 128, L2 gradient-norm clipping at 2.0, the
raw coordinates as LSTM inputs; convex hulls trained on ``n`` drawn from 5 to 50 and tested up to
500 points (section 4.2, Table 1), with 1M training examples.

Departures at the scales that run on a 2-core CPU (see the package README):

* 64 (quick) or 128 (full) LSTM units instead of 512, and a linear embedding of the coordinates
  (``model.embedding_dim``) in front of the LSTMs, which speeds up learning with few units;
* Adam (lr 3e-3 quick, 2e-3 full) instead of SGD lr 1.0: with ~600 to 2,000 updates instead of
  the paper's long SGD schedule, plain SGD does not get far; the clipping at 2.0 and batch 128
  are kept;
* PyTorch's default initialisation instead of ``U(-0.08, 0.08)``: with the small uniform range
  the convex-hull model sat on a plateau (no use of geometry, step-1 accuracy 0.18) for over
  1,000 updates in our runs, with the defaults it left it after ~300;
* sorting trains for fewer epochs than the hull (``optim.sort_epochs``): it converges sooner;
* training ``n`` in 5..10 and test ``n`` up to 20-25 instead of 5..50 / 500;
* 12.8k-20k generated training instances instead of 1M.

Sorting (inputs: ``n`` numbers in ``[0, 1)``, outputs: their ``argsort``) is not a task of the
Pointer Networks paper; it is the task of its follow-up, Vinyals, Bengio, Kudlur, "Order Matters:
Sequence to sequence for sets", https://arxiv.org/abs/1511.06391 (section 4.1), run here with the
same models as a second pointer problem. The travelling-salesman problem of section 4.4 is
opt-in (``tasks=("tsp",)``, test sizes up to :data:`MAX_TSP_N` for exact Held-Karp labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from attnlab.data.geometry import MAX_TSP_POINTS

__all__ = [
    "MAX_TSP_N",
    "MODELS",
    "TASKS",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "PointerConfig",
]

TASKS: tuple[str, ...] = ("convex_hull", "sort", "tsp")
"""Tasks the experiment can run (``tasks``); ``tsp`` (exact labels, ``n <= 12``) is opt-in."""

MAX_TSP_N = MAX_TSP_POINTS
"""Largest test ``n`` with ``tsp`` in ``tasks`` (exact Held-Karp labels)."""

MODELS: tuple[str, ...] = ("ptr_net", "seq2seq")
"""Models compared (``models``): the pointer network and the seq2seq-with-attention baseline."""


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of both models (identical, so only the output layer differs)."""

    hidden_dim: int = 512  # section 4: "a single layer LSTM with either 256 or 512 hidden units"
    embedding_dim: int | None = None  # section 2.3: the coordinates are the LSTM inputs
    # section 4: "random uniform weight initialization from -0.08 to 0.08"; None = PyTorch's
    # default initialisation (the CPU scales: see the module docstring)
    init_range: float | None = 0.08

    def __post_init__(self) -> None:
        if self.hidden_dim < 1:
            raise ValueError(f"model.hidden_dim must be >= 1, got {self.hidden_dim}")
        if self.embedding_dim is not None and self.embedding_dim < 1:
            raise ValueError(f"model.embedding_dim must be >= 1 or None, got {self.embedding_dim}")
        if self.init_range is not None and not self.init_range > 0:
            raise ValueError(f"model.init_range must be > 0, got {self.init_range}")


@dataclass(frozen=True)
class OptimConfig:
    """The optimiser (section 4)."""

    optimizer: Literal["sgd", "adam"] = "sgd"  # section 4: SGD
    lr: float = 1.0  # section 4: learning rate 1.0
    batch_size: int = 128  # section 4: batch size 128
    grad_clip: float = 2.0  # section 4: "L2 gradient clipping of 2.0"
    epochs: int = 10  # passes over the training set (the paper's count is not stated)
    sort_epochs: int | None = None  # epochs of the sorting task (None: ``epochs``)

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")
        if self.batch_size < 1 or self.epochs < 1 or (
            self.sort_epochs is not None and self.sort_epochs < 1
        ):
            raise ValueError(f"optim.batch_size and optim.epochs must be >= 1, got {self}")
        if not self.grad_clip > 0:
            raise ValueError(f"optim.grad_clip must be > 0, got {self.grad_clip}")


@dataclass(frozen=True)
class DataConfig:
    """Generated instances: training sizes, test sizes (section 4.2)."""

    train_size: int = 1_000_000  # section 4.2: 1M training examples
    val_size: int = 1_000  # held-out instances evaluated after each epoch (curves only)
    test_size: int = 1_000  # test instances per test n
    train_min_n: int = 5  # section 4.2 / Table 1: trained on n = 5..50
    train_max_n: int = 50  # section 4.2 / Table 1
    test_n: tuple[int, ...] = (5, 10, 50, 100, 200, 500)  # Table 1 test sizes

    def __post_init__(self) -> None:
        for name in ("train_size", "val_size", "test_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if not 3 <= self.train_min_n <= self.train_max_n:
            raise ValueError(
                f"need 3 <= data.train_min_n <= data.train_max_n, got {self.train_min_n}, "
                f"{self.train_max_n}"
            )
        if not self.test_n or min(self.test_n) < 3:
            raise ValueError(f"data.test_n must be non-empty sizes >= 3, got {self.test_n}")
        if self.train_max_n not in self.test_n or max(self.test_n) <= self.train_max_n:
            raise ValueError(
                "data.test_n must contain data.train_max_n and a size above it (generalisation), "
                f"got {self.test_n} with train_max_n={self.train_max_n}"
            )


@dataclass(frozen=True)
class PointerConfig:
    """Ptr-Net vs seq2seq with attention on convex hulls and sorting."""

    # which problems to run: section 4.2 (hull) and sorting; section 4.4's TSP is opt-in
    tasks: tuple[str, ...] = ("convex_hull", "sort")
    models: tuple[str, ...] = MODELS  # which models to train
    beam_size: int = 1  # Ptr-Net decoding (1 = greedy; the baseline always decodes greedily)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        if not self.tasks or any(t not in TASKS for t in self.tasks):
            raise ValueError(f"tasks must be a non-empty subset of {TASKS}, got {self.tasks}")
        if not self.models or any(m not in MODELS for m in self.models):
            raise ValueError(f"models must be a non-empty subset of {MODELS}, got {self.models}")
        if "tsp" in self.tasks and max(max(self.data.test_n), self.data.train_max_n) > MAX_TSP_N:
            raise ValueError(
                f"tasks with 'tsp' need data.test_n and data.train_max_n <= {MAX_TSP_N} (exact "
                f"labels), got test_n={self.data.test_n}"
            )
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size}")

    @classmethod
    def smoke(cls) -> PointerConfig:
        """Seconds: tiny models, a few hundred instances, one epoch."""
        return cls(
            model=ModelConfig(hidden_dim=16, embedding_dim=16, init_range=None),
            optim=OptimConfig(optimizer="adam", lr=1e-2, epochs=1, batch_size=64),
            data=DataConfig(train_size=256, val_size=64, test_size=32, train_min_n=4,
                            train_max_n=6, test_n=(6, 8)),
        )
