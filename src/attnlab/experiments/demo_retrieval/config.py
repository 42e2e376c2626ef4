"""Configuration of the ``demo_retrieval`` experiment.

This experiment reproduces no paper table: it is the key-value retrieval task of ``attnlab demo``
run through the experiment framework. The defaults are that demo's settings; the model is
additive attention (Bahdanau, Cho and Bengio, "Neural Machine Translation by Jointly Learning to
Align and Translate", https://arxiv.org/abs/1409.0473, section 3.1 / appendix A.1.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from attnlab.demo import MAX_PAIRS, NUM_KEYS

__all__ = ["ModelConfig", "OptimConfig", "RetrievalConfig"]


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of :class:`attnlab.demo.RetrievalModel`."""

    dim: int = 32  # embedding size of keys, values and queries (attnlab.demo default)
    hidden_dim: int = 32  # additive-attention hidden size, W_a/U_a output (Bahdanau eq. 6, n')

    def __post_init__(self) -> None:
        if self.dim < 1 or self.hidden_dim < 1:
            raise ValueError(f"model.dim and model.hidden_dim must be >= 1, got {self}")


@dataclass(frozen=True)
class OptimConfig:
    """Adam settings (attnlab.demo defaults)."""

    lr: float = 3e-3  # Adam learning rate
    batch_size: int = 64  # generated examples per step

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"optim.batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class RetrievalConfig:
    """Key-value retrieval with additive attention: task, model, schedule."""

    steps: int = 400  # training steps (attnlab.demo default)
    min_pairs: int = 3  # fewest (key, value) pairs in a list
    max_pairs: int = MAX_PAIRS  # list length after padding (8)
    eval_every: int = 50  # steps between validation points of the learning curves
    val_size: int = 500  # validation examples (a fixed generated set)
    test_size: int = 1000  # held-out examples for the final numbers (as attnlab demo)
    shown_queries: int = 8  # rows of the attention heat map
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        for name in ("steps", "eval_every", "val_size", "test_size", "shown_queries"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 1 <= self.min_pairs <= self.max_pairs <= NUM_KEYS:
            raise ValueError(
                f"need 1 <= min_pairs <= max_pairs <= {NUM_KEYS}, "
                f"got min_pairs={self.min_pairs}, max_pairs={self.max_pairs}"
            )

    @classmethod
    def smoke(cls) -> RetrievalConfig:
        """A few steps: proves the pipeline in about a second."""
        return cls(steps=20, eval_every=10, val_size=100, test_size=200)
