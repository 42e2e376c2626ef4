"""Configuration of the ``vaswani2017_translation`` experiment.

Vaswani et al., "Attention Is All You Need", https://arxiv.org/abs/1706.03762: a small
Transformer trained with the paper's recipe (Adam 0.9/0.98/1e-9 with the warm-up schedule of
section 5.3, label smoothing 0.1 and dropout 0.1 of section 5.4, shared vocabulary with tied
embeddings of section 3.4) on Tatoeba English-French pairs, against a GRU encoder-decoder with
additive attention (Bahdanau et al., https://arxiv.org/abs/1409.0473) on the same data, for the
same number of epochs with the same batch size. Sizes are scaled down from the paper to a 2-core
CPU; each field says what the paper used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["BaselineConfig", "DataConfig", "TransformerConfig", "TranslationConfig"]


@dataclass(frozen=True)
class DataConfig:
    """Which pairs are used and how they are split."""

    max_length: int = 10  # tokens per side (the PyTorch seq2seq tutorial's filter)
    tutorial_prefixes: bool = True  # keep "i am", "he is", ... sentences (tutorial filter)
    max_pairs: int = 0  # 0: every pair passing the filters; else a seeded sample
    min_freq: int = 2  # rarer tokens become <unk> (the paper uses a 37k BPE vocabulary)
    valid_fraction: float = 0.05  # of the distinct English sentences
    test_fraction: float = 0.1  # of the distinct English sentences (unseen in training)
    max_test_sentences: int = 1000  # test sentences decoded for BLEU (0: all)

    def __post_init__(self) -> None:
        if self.max_length < 2:
            raise ValueError(f"data.max_length must be >= 2, got {self.max_length}")
        if self.max_pairs < 0 or self.max_test_sentences < 0:
            raise ValueError("data.max_pairs and data.max_test_sentences must be >= 0")
        if self.min_freq < 1:
            raise ValueError(f"data.min_freq must be >= 1, got {self.min_freq}")


@dataclass(frozen=True)
class TransformerConfig:
    """The Transformer and its training recipe."""

    dim: int = 128  # d_model (paper base: 512, section 3)
    num_heads: int = 4  # h (paper: 8, section 3.2.2)
    num_layers: int = 2  # N for encoder and decoder (paper: 6, section 3.1)
    hidden_dim: int = 256  # d_ff (paper: 2048, section 3.3)
    dropout: float = 0.1  # P_drop (section 5.4)
    label_smoothing: float = 0.1  # eps_ls (section 5.4)
    warmup_steps: int = 400  # paper: 4000 of 100k steps (section 5.3); scaled to the schedule
    lr_scale: float = 1.0  # multiplies lrate = d_model^-0.5 min(step^-0.5, step warmup^-1.5)
    beta1: float = 0.9  # section 5.3
    beta2: float = 0.98  # section 5.3
    eps: float = 1e-9  # section 5.3
    norm_first: bool = False  # post-norm, as the paper

    def __post_init__(self) -> None:
        if self.dim % self.num_heads:
            raise ValueError(
                f"transformer.dim={self.dim} must be divisible by num_heads={self.num_heads}"
            )
        if self.warmup_steps < 1 or self.lr_scale <= 0:
            raise ValueError("transformer.warmup_steps must be >= 1 and lr_scale > 0")


@dataclass(frozen=True)
class BaselineConfig:
    """The seq2seq-with-attention baseline (``attnlab.architectures.seq2seq.Seq2Seq``)."""

    embed_dim: int = 128  # as the Transformer's d_model
    hidden_dim: int = 128  # GRU size per direction
    bidirectional: bool = True  # Bahdanau et al. section 3.2
    attention: str = "additive"  # Bahdanau et al. eq. 6
    dropout: float = 0.1  # as the Transformer
    lr: float = 1e-3  # Adam, constant (a usual setting for small GRU seq2seq)
    grad_clip: float = 1.0  # gradient-norm clipping (RNNs)
    label_smoothing: float = 0.1  # the same loss as the Transformer


@dataclass(frozen=True)
class TranslationConfig:
    """Data, both models, the shared schedule and the decoding."""

    epochs: int = 8  # passes over the training pairs, the same for both models
    batch_size: int = 64  # pairs per step, the same for both models
    max_steps_per_epoch: int = 0  # 0: whole epochs (smoke runs cap it)
    beam_size: int = 1  # 1: greedy; the paper decodes with beam 4 (section 6.1)
    length_penalty: float = 0.6  # alpha of section 6.1 (used when beam_size > 1)
    max_decode_length: int = 14  # output tokens (EOS included) when decoding
    example_index: int = 0  # the test sentence whose attention is plotted
    data: DataConfig = field(default_factory=DataConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "beam_size", "max_decode_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps_per_epoch < 0 or self.example_index < 0:
            raise ValueError("max_steps_per_epoch and example_index must be >= 0")

    @classmethod
    def smoke(cls) -> TranslationConfig:
        """A few steps on a small sample: proves the pipeline in seconds."""
        return cls(
            epochs=1,
            max_steps_per_epoch=5,
            max_decode_length=6,
            data=DataConfig(max_pairs=600, max_test_sentences=20),
            transformer=TransformerConfig(dim=32, num_heads=2, num_layers=1, hidden_dim=64),
            baseline=BaselineConfig(embed_dim=32, hidden_dim=32),
        )
