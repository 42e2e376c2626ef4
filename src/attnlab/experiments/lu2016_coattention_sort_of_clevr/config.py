"""Configuration of the ``lu2016_coattention_sort_of_clevr`` experiment.

Task and baselines of Santoro et al., "A simple neural network module for relational
reasoning", https://arxiv.org/abs/1706.01427 (section 4 and appendix D, Sort-of-CLEVR): 10,000
images of 75 x 75 pixels (200 held out for validation), 20 questions each; a CNN of 4
convolutional layers with 32, 64, 128 and 256 kernels, ReLU and batch normalisation; Adam with
learning rate 1e-4, mini-batches of 64 questions. The attention model is the co-attention of
Lu et al., "Hierarchical Question-Image Co-Attention for Visual Question Answering",
https://arxiv.org/abs/1606.00061 (section 3.3), on the same CNN's regions.

The defaults below are the paper's values; the ``quick`` and ``full`` scales override them
with these departures (all forced by a 2-core CPU budget of minutes):

* A step takes ``batch_images`` images with all 20 of their questions (the CNN runs once per
  image): 16 images = 320 questions per step instead of 64 independent questions.
* The CNN is narrower (``channels``; 24 kernels per layer, the width of Santoro et al.'s
  CLEVR-from-pixels CNN) and the MLP heads are narrow (the paper's f_phi is 2000-1000-500-100;
  here ``mlp_hidden`` units): 256 units, a practical width on a CPU.
* Adam's rate is raised from 1e-4 to ``lr`` because training lasts minutes, not days.
* Fewer images at the full scale (``train_images``); smoke/quick use smaller images too
  (``image_size``; 75 at full, as in the paper).
* After training, BatchNorm statistics are re-estimated over the training images ("precise
  BN"), see ``run.recalibrate_batch_norm``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DataConfig", "ModelConfig", "OptimConfig", "SortOfClevrConfig"]

COATTENTIONS: tuple[str, ...] = ("parallel", "alternating")


@dataclass(frozen=True)
class DataConfig:
    """Generated Sort-of-CLEVR images (appendix D)."""

    train_images: int = 9_800  # appendix D: 10,000 images, 200 of them held out
    val_images: int = 200  # appendix D: 200 validation images (4,000 questions)
    test_images: int = 1_000  # generated test images for the final accuracies
    image_size: int = 75  # appendix D: 75 x 75 pixels
    object_size: int = 5  # object half-size in pixels (11-pixel objects at 75 x 75)

    def __post_init__(self) -> None:
        for name in ("train_images", "val_images", "test_images", "image_size", "object_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of both models (the CNN is shared in design, not in weights)."""

    channels: tuple[int, ...] = (32, 64, 128, 256)  # Santoro et al. appendix D
    coattention: str = "parallel"  # Lu et al. section 3.3: "parallel" (eqs. 3-5) or "alternating"
    num_hops: int = 2  # co-attention layers (memory token between hops; see the model)
    embed_dim: int = 32  # question word (bit) embedding
    question_dim: int = 64  # question feature size Dq
    attention_dim: int = 32  # co-attention hidden size k (Lu et al. eq. 4)
    hidden_dim: int = 256  # co-attention classifier hidden layer (narrowed f_phi)
    mlp_hidden: tuple[int, ...] = (256, 256)  # CNN+MLP hidden layers (f_phi 2000-1000-500-100)
    rnn: str = "none"  # the 3 question parts (colour, group, subtype) need no RNN

    def __post_init__(self) -> None:
        if self.coattention not in COATTENTIONS:
            raise ValueError(
                f"model.coattention must be one of {COATTENTIONS}, got {self.coattention!r}"
            )
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"model.channels must be positive, got {self.channels}")
        if self.num_hops < 1:
            raise ValueError(f"model.num_hops must be >= 1, got {self.num_hops}")


@dataclass(frozen=True)
class OptimConfig:
    """Adam (Santoro et al. appendix D: rate 1e-4, batch 64 questions)."""

    lr: float = 1e-4  # appendix D
    batch_images: int = 16  # images per step, all 20 questions of each (320 questions)
    epochs: int = 20  # passes over the training images

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")
        if self.batch_images < 1 or self.epochs < 1:
            raise ValueError(f"optim.batch_images and optim.epochs must be >= 1, got {self}")


@dataclass(frozen=True)
class SortOfClevrConfig:
    """Co-attention vs CNN+MLP on Sort-of-CLEVR."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    shown_questions: int = 6  # panels of the region-attention figure
    eval_batch_images: int = 50  # images per evaluation batch

    def __post_init__(self) -> None:
        if self.shown_questions < 1 or self.eval_batch_images < 1:
            raise ValueError("shown_questions and eval_batch_images must be >= 1")

    @classmethod
    def smoke(cls) -> SortOfClevrConfig:
        """Tiny images and nets, one epoch: proves the pipeline in seconds."""
        return cls(
            data=DataConfig(
                train_images=32, val_images=8, test_images=16, image_size=32, object_size=2
            ),
            model=ModelConfig(
                channels=(8, 8, 8), embed_dim=8, question_dim=8, attention_dim=8, hidden_dim=16,
                mlp_hidden=(16,),
            ),
            optim=OptimConfig(lr=1e-3, batch_images=8, epochs=1),
            shown_questions=2,
        )
