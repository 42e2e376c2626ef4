"""Configuration of ``sukhbaatar2015_memn2n_babi``: MemN2N on bAbI 1k, joint training.

Defaults are the paper's (Sukhbaatar, Szlam, Weston, Fergus, "End-To-End Memory Networks",
https://arxiv.org/abs/1503.08895, sections 4.1-4.2 and Table 1, column "PE LS RN", joint 1k).
The ``full`` scale runs these defaults (one run instead of the paper's best of 10); the ``paper``
scale keeps one run of several (``runs``, by validation error) on the same schedule; ``quick`` and
``smoke`` shorten the schedule and the task list for a 2-core CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MemN2NBabiConfig", "ModelConfig", "OptimConfig"]

ALL_TASKS: tuple[int, ...] = tuple(range(1, 21))


@dataclass(frozen=True)
class ModelConfig:
    """Sizes and options of :class:`attnlab.architectures.memn2n.MemN2N`."""

    dim: int = 50  # d = 50 for joint training (section 4.2)
    num_hops: int = 3  # K = 3 hops (section 4.2)
    memory_size: int = 50  # the last 50 sentences (section 4.2)
    weight_tying: str = "adjacent"  # adjacent tying for bAbI (section 2.2 / 4.2)
    encoding: str = "position"  # PE (section 4.1, Table 1 "PE")
    temporal: bool = True  # temporal encoding T_A, T_C (section 4.1)
    random_noise: float = 0.1  # RN: 10% empty memories at training (section 4.1)
    init_std: float = 0.1  # weights ~ N(0, 0.1^2) (section 4.2)

    def __post_init__(self) -> None:
        if self.dim < 1 or self.num_hops < 1 or self.memory_size < 1:
            raise ValueError(f"model.dim, num_hops and memory_size must be >= 1, got {self}")
        if self.weight_tying not in ("adjacent", "layerwise"):
            raise ValueError(f"model.weight_tying must be adjacent or layerwise, got {self}")
        if self.encoding not in ("position", "bow"):
            raise ValueError(f"model.encoding must be position or bow, got {self}")
        if not 0 <= self.random_noise < 1:
            raise ValueError(f"model.random_noise must be in [0, 1), got {self.random_noise}")


@dataclass(frozen=True)
class OptimConfig:
    """SGD schedule (section 4.2)."""

    lr: float = 0.01  # SGD learning rate after linear start (section 4.2)
    ls_lr: float = 0.005  # learning rate during linear start (section 4.2)
    batch_size: int = 32  # batch size 32 (section 4.2)
    grad_clip: float = 40.0  # gradient l2 norm clipped at 40 (section 4.2)
    epochs: int = 100  # 100 epochs (section 4.2)
    halve_every: int = 25  # lr halved every 25 epochs (section 4.2)
    ls_max_epochs: int = 20  # LS ends when the validation loss stops falling; cap (ours)
    ls_patience: int = 2  # epochs without a falling validation loss that end LS (ours)

    def __post_init__(self) -> None:
        if not (self.lr > 0 and self.ls_lr > 0 and self.grad_clip > 0):
            raise ValueError(f"optim.lr, ls_lr and grad_clip must be > 0, got {self}")
        for name in ("batch_size", "epochs", "halve_every", "ls_patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"optim.{name} must be >= 1, got {getattr(self, name)}")
        if self.ls_max_epochs < 0:
            raise ValueError(f"optim.ls_max_epochs must be >= 0, got {self.ls_max_epochs}")


@dataclass(frozen=True)
class MemN2NBabiConfig:
    """MemN2N (3 hops, PE LS RN) trained jointly on the bAbI 1k tasks."""

    tasks: tuple[int, ...] = ALL_TASKS  # joint training on all 20 tasks (Table 1, joint)
    variant: str = "en"  # bAbI 1k (Table 1, "1k")
    linear_start: bool = True  # LS (section 4.2, Table 1 "LS")
    runs: int = 1  # independent runs, best by validation error (paper: 10; section 4.2)
    hop_ablation: tuple[int, ...] = ()  # extra hop counts trained the same way (Table 1: 1, 2)
    val_fraction: float = 0.1  # 10% of the training set for validation (section 4.2)
    max_train_per_task: int | None = None  # keep only this many training questions per task
    shown_questions: int = 4  # questions in the per-hop attention plot
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        if not self.tasks or any(t not in ALL_TASKS for t in self.tasks):
            raise ValueError(f"tasks must be a non-empty subset of 1..20, got {self.tasks}")
        if self.variant not in ("en", "en-10k"):
            raise ValueError(f"variant must be 'en' or 'en-10k', got {self.variant!r}")
        if self.runs < 1 or self.shown_questions < 1:
            raise ValueError(f"runs and shown_questions must be >= 1, got {self}")
        if any(h < 1 for h in self.hop_ablation):
            raise ValueError(f"hop_ablation must hold hop counts >= 1, got {self.hop_ablation}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.max_train_per_task is not None and self.max_train_per_task < 10:
            raise ValueError(f"max_train_per_task must be >= 10, got {self.max_train_per_task}")

    @classmethod
    def smoke(cls) -> MemN2NBabiConfig:
        """Task 1 only, 200 questions, 1 + 2 epochs: proves the pipeline in seconds."""
        return cls(
            tasks=(1,),
            max_train_per_task=200,
            shown_questions=2,
            optim=OptimConfig(epochs=2, halve_every=1, ls_max_epochs=1),
        )
