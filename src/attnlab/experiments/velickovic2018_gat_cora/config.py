"""Configuration of ``velickovic2018_gat_cora``: the transductive Cora setup of the GAT paper.

P. Velickovic et al., "Graph Attention Networks", ICLR 2018, https://arxiv.org/abs/1710.10903,
section 3.3 ("Transductive learning") and Table 2. Every default below is the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["GATCoraConfig", "ModelConfig", "OptimConfig"]


@dataclass(frozen=True)
class ModelConfig:
    """The two-layer GAT of section 3.3."""

    hidden_dim: int = 8  # F' = 8 features per head in layer 1 (sec. 3.3)
    num_heads: int = 8  # K = 8 heads in layer 1, concatenated, ELU (sec. 3.3)
    num_output_heads: int = 1  # one output head, C features + softmax (sec. 3.3; 8 for Pubmed)
    dropout: float = 0.6  # p = 0.6 on both layers' inputs and on the coefficients (sec. 3.3)
    negative_slope: float = 0.2  # LeakyReLU slope in the attention (sec. 2.1, eq. 3)

    def __post_init__(self) -> None:
        if min(self.hidden_dim, self.num_heads, self.num_output_heads) < 1:
            raise ValueError(f"model sizes must be >= 1, got {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class OptimConfig:
    """Adam with L2 regularisation (sec. 3.3)."""

    lr: float = 0.005  # Adam learning rate on Cora (sec. 3.3; 0.01 for Pubmed)
    weight_decay: float = 5e-4  # L2 lambda = 0.0005 (sec. 3.3), as Adam's coupled L2 term

    def __post_init__(self) -> None:
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(f"optim.lr must be > 0 and weight_decay >= 0, got {self}")


@dataclass(frozen=True)
class GATCoraConfig:
    """Runs of the GAT on Cora from independent seeds; the mean test accuracy is the result."""

    seeds: int = 10  # independent runs (the paper averages 100; Table 2 reports mean +- std)
    patience: int = 100  # early stopping on validation loss and accuracy (sec. 3.3)
    max_epochs: int = 100_000  # the reference code's cap; early stopping ends runs far sooner
    sparse_features: bool = True  # bag-of-words features as a sparse tensor (same function)
    shown_nodes: int = 4  # test nodes in the neighbourhood attention plot
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        for name in ("seeds", "patience", "max_epochs", "shown_nodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @classmethod
    def smoke(cls) -> GATCoraConfig:
        """One seed, a few epochs: proves the pipeline on the real graph in seconds."""
        return cls(seeds=1, max_epochs=15, patience=5)
