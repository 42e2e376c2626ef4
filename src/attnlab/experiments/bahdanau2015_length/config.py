"""Configuration of ``bahdanau2015_length``: encoder-decoder with vs without attention by length.

Paper: Bahdanau, Cho, Bengio, "Neural Machine Translation by Jointly Learning to Align and
Translate", https://arxiv.org/abs/1409.0473 (RNNsearch vs RNNencdec, Fig. 2: BLEU by sentence
length). The paper's sizes (m = 620, n = 1000, 30k vocabularies, 5 days per model) do not fit a
2-core CPU: the defaults below keep the paper's *architecture* (bidirectional GRU encoder, GRU
decoder, additive attention, gradient-norm clipping at 1) at a smaller size; each field names
the paper's value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LengthConfig", "ModelConfig", "OptimConfig", "SequenceTaskConfig", "TranslationConfig"]


@dataclass(frozen=True)
class ModelConfig:
    """Sizes shared by RNNsearch (attention) and RNNencdec (none)."""

    embed_dim: int = 64  # m: word embedding size (paper: 620, appendix A.2)
    hidden_dim: int = 64  # n: GRU units per direction and in the decoder (paper: 1000)
    attention_hidden_dim: int = 64  # n': alignment model hidden size (paper: 1000)
    bidirectional: bool = True  # bidirectional encoder (paper section 3.2)
    rnn: str = "gru"  # gated recurrent units (paper section 3, appendix A)

    def __post_init__(self) -> None:
        for name in ("embed_dim", "hidden_dim", "attention_hidden_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.rnn not in ("gru", "lstm"):
            raise ValueError(f"model.rnn must be 'gru' or 'lstm', got {self.rnn!r}")


@dataclass(frozen=True)
class OptimConfig:
    """Training schedule (the paper: AdaDelta eps 1e-6 rho 0.95, minibatch 80, clip 1)."""

    lr: float = 3e-3  # Adam learning rate (paper: AdaDelta, no learning rate)
    batch_size: int = 64  # minibatch (paper: 80 sentences)
    grad_clip: float = 1.0  # L2 norm of the gradient clipped at 1 (paper appendix B.2.1)
    epochs: int = 3  # passes over the generated training set

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError("optim.batch_size and optim.epochs must be >= 1")
        if not self.grad_clip > 0:
            raise ValueError(f"optim.grad_clip must be > 0, got {self.grad_clip}")


@dataclass(frozen=True)
class SequenceTaskConfig:
    """The generated task: reverse a sequence of random symbols (no paper table)."""

    task: str = "reverse"  # copy / reverse / sort (attnlab.data.sequences)
    min_length: int = 4  # shortest source
    max_length: int = 15  # longest source (the reimplementer's check used 6 and 16)
    vocab_size: int = 10  # distinct symbols
    train_size: int = 6400  # generated training pairs
    test_per_length: int = 50  # held-out pairs per source length

    def __post_init__(self) -> None:
        if self.task not in ("copy", "reverse", "sort"):
            raise ValueError(f"sequence.task must be copy, reverse or sort, got {self.task!r}")
        if not 1 <= self.min_length < self.max_length:
            raise ValueError("need 1 <= sequence.min_length < sequence.max_length")
        if self.vocab_size < 2 or self.train_size < 1 or self.test_per_length < 1:
            raise ValueError("sequence.vocab_size >= 2, train_size and test_per_length >= 1")


@dataclass(frozen=True)
class TranslationConfig:
    """English -> French on the Tatoeba pairs (the paper: WMT'14, 348M words)."""

    enabled: bool = True  # run the eng-fra part when the data is available
    max_length: int = 10  # longest sentence in tokens on both sides (paper: 30 / 50 words)
    max_pairs: int = 20000  # sampled pairs (train + valid + test)
    min_freq: int = 2  # rarer words become <unk> (paper: 30k most frequent words)
    test_fraction: float = 0.1  # held-out fraction for BLEU
    epochs: int = 8  # passes over the training pairs

    def __post_init__(self) -> None:
        if self.max_length < 2 or self.max_pairs < 20 or self.min_freq < 1 or self.epochs < 1:
            raise ValueError("translation: max_length >= 2, max_pairs >= 20, min_freq, epochs >= 1")
        if not 0.0 < self.test_fraction < 0.5:
            raise ValueError("translation.test_fraction must be in (0, 0.5)")


@dataclass(frozen=True)
class LengthConfig:
    """Both models on the generated task and (optionally) on eng-fra, scored by source length."""

    sequence: SequenceTaskConfig = field(default_factory=SequenceTaskConfig)
    translation: TranslationConfig = field(default_factory=TranslationConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    longest_bucket: int = 4  # the "longest" score averages this many longest source lengths
    shown_examples: int = 2  # alignment matrices plotted per task

    def __post_init__(self) -> None:
        if self.longest_bucket < 1 or self.shown_examples < 1:
            raise ValueError("longest_bucket and shown_examples must be >= 1")

    @classmethod
    def smoke(cls) -> LengthConfig:
        """Seconds: tiny models, a few hundred pairs."""
        return cls(
            sequence=SequenceTaskConfig(
                min_length=3, max_length=6, train_size=256, test_per_length=8
            ),
            translation=TranslationConfig(max_length=4, max_pairs=300, epochs=1, min_freq=1),
            model=ModelConfig(embed_dim=8, hidden_dim=16, attention_hidden_dim=16),
            optim=OptimConfig(epochs=1),
            longest_bucket=1,
        )
