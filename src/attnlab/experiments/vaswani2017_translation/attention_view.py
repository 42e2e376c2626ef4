"""The trained Transformer's attention, for the report's interactive view and ``attnlab explain``.

At the end of a run, :func:`save_attention_view` writes the shared vocabulary
(``RUN_DIR/vocab.json``) and the attention of the trained Transformer on the first test
sentences (``RUN_DIR/attention_view.json``, embedded by the report). The run itself exports the
trained models (``RUN_DIR/model/transformer`` and ``RUN_DIR/model/seq2seq``, see
:mod:`attnlab.train.export`). :func:`explain` is the experiment's explain hook: it rebuilds the
Transformer and the vocabulary from the run folder and records the attention on a new English
sentence.

For each sentence the model first translates greedily; the decoder then reads ``<bos>`` and its
own translation, teacher-forced, while :func:`attnlab.interpret.record` captures every attention
module: the encoder self-attention (source over source), the decoder self-attention (output
prefix over output prefix, causal) and the encoder-decoder attention (output over source), for
every layer and head.

Note:
    The report's view shows the model as training left it; the export holds the weights of the
    best epoch (by the training loop's monitored metric). With one epoch, or when the last
    epoch is the best, the two are the same model; otherwise ``attnlab explain`` on a test
    sentence may differ slightly from the report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from attnlab.architectures.transformer import Transformer
from attnlab.core.init_args import ConfigError
from attnlab.core.serialization import from_pretrained
from attnlab.data.translation import BOS_ID, EOS_ID, SPECIAL_TOKENS, Vocab, tokenize
from attnlab.experiments.context import RunContext
from attnlab.experiments.explain import ExplainError
from attnlab.experiments.vaswani2017_translation.config import TranslationConfig
from attnlab.interpret.record import record
from attnlab.report.attention_view import (
    VIEW_FILE,
    AttentionExample,
    AttentionMap,
    write_view_data,
)
from attnlab.report.files import ReportError, atomic_write_text, read_json

if TYPE_CHECKING:  # pragma: no cover
    from attnlab.experiments.vaswani2017_translation.run import Splits

__all__ = [
    "MODEL_DIR",
    "NUM_EXAMPLES",
    "VOCAB_FILE",
    "explain",
    "load_transformer",
    "load_vocab",
    "save_attention_view",
    "save_vocab",
    "transformer_attention",
]

#: The shared vocabulary in a run folder: ``{"format": "attnlab-vocab", "tokens": [...]}``, the
#: tokens in id order (special tokens first).
VOCAB_FILE = "vocab.json"
#: The Transformer in a run folder (``save_pretrained`` layout).
MODEL_DIR = "model/transformer"
#: Test sentences shown in the report's view.
NUM_EXAMPLES = 3

_VOCAB_FORMAT = "attnlab-vocab"


def save_vocab(path: str | Path, vocab: Vocab) -> Path:
    """Write ``vocab`` as JSON (atomically); :func:`load_vocab` reads it back."""
    text = json.dumps({"format": _VOCAB_FORMAT, "tokens": vocab.itos}, ensure_ascii=False)
    return atomic_write_text(Path(path), text + "\n")


def load_vocab(path: str | Path) -> Vocab:
    """The vocabulary written by :func:`save_vocab`.

    Raises:
        ExplainError: the file is missing or not a vocabulary.
    """
    try:
        data = read_json(path)
    except ReportError as error:
        raise ExplainError(f"no vocabulary: {error}") from None
    tokens = data.get("tokens") if isinstance(data, dict) else None
    if (not isinstance(data, dict) or data.get("format") != _VOCAB_FORMAT
            or not isinstance(tokens, list)
            or tokens[: len(SPECIAL_TOKENS)] != list(SPECIAL_TOKENS)):
        raise ExplainError(f"{path} is not a vocabulary written by this experiment")
    try:
        return Vocab(tokens[len(SPECIAL_TOKENS):])
    except (TypeError, ValueError) as error:
        raise ExplainError(f"{path}: {error}") from None


def load_transformer(run_dir: str | Path) -> Transformer:
    """The trained Transformer saved in ``RUN_DIR/model/transformer`` (or ``RUN_DIR/model``).

    Raises:
        ExplainError: neither folder holds a saved Transformer, or the saved files are unreadable.
    """
    folder = Path(run_dir)
    for candidate in (folder / MODEL_DIR, folder / "model"):
        if not (candidate / "config.json").is_file():
            continue
        try:
            model = from_pretrained(candidate)
        except (ConfigError, OSError, TypeError, ValueError) as error:
            raise ExplainError(f"cannot load the model in {candidate}: {error}") from None
        inner = getattr(model, "model", model)  # a TransformerTranslator wrapper, unwrapped
        if isinstance(inner, Transformer):
            return inner.eval()
    raise ExplainError(
        f"{str(folder)!r} holds no saved Transformer ({MODEL_DIR}/config.json); runs made "
        "before the model was saved cannot be explained: run the experiment again"
    )


def _tokens(vocab: Vocab, words: Sequence[str]) -> list[str]:
    """Labels of ``words`` as the model sees them (unknown words marked)."""
    return [w if w in vocab else f"{w} (unknown)" for w in words]


@torch.no_grad()
def transformer_attention(
    model: Transformer,
    words: Sequence[str],
    vocab: Vocab,
    *,
    max_length: int,
    title: str = "",
) -> AttentionExample:
    """Translate ``words`` greedily and record every attention of the teacher-forced pass.

    Args:
        model: a trained Transformer (put in eval mode here).
        words: the source sentence, tokenised (:func:`attnlab.data.translation.tokenize`).
        vocab: the shared vocabulary of source and target.
        max_length: most output tokens (EOS included).
        title: the example's title (default: the sentence and its translation).

    Returns:
        Three maps: ``encoder`` (source over source), ``decoder`` (output over output) and
        ``cross`` (output over source), each ``(layers, heads, Lq, Lk)``; the source ends with
        ``<eos>`` and the output starts with ``<bos>``.
    """
    if not words:
        raise ExplainError("the input has no token after normalisation (letters, digits, .!?)")
    model.eval()
    device = next(model.parameters()).device
    src = torch.tensor([vocab.encode(list(words), add_eos=True)], device=device)
    output = vocab.decode(model.greedy_decode(
        src, bos_index=BOS_ID, eos_index=EOS_ID, max_length=max_length
    ).tokens[0].tolist())
    tgt_in = torch.tensor([[BOS_ID, *vocab.encode(output)]], device=device)
    with record(model, force_weights=True) as rec:
        model(src, tgt_in)
    source = [*_tokens(vocab, words), "<eos>"]
    target = ["<bos>", *output]

    def stacked(pattern: str) -> torch.Tensor:
        return torch.stack([w[0] for w in rec.weights(pattern)])  # (layers, h, i, j)

    maps = [
        AttentionMap("encoder", stacked("encoder.layers.*.self_attn"), queries=source,
                     keys=source, title="encoder self-attention"),
        AttentionMap("decoder", stacked("decoder.layers.*.self_attn"), queries=target,
                     keys=target, title="decoder self-attention"),
        AttentionMap("cross", stacked("decoder.layers.*.multihead_attn"), queries=target,
                     keys=source, title="encoder-decoder attention"),
    ]
    return AttentionExample(title or f"{' '.join(words)} → {' '.join(output)}", maps)


def save_attention_view(
    ctx: RunContext, config: TranslationConfig, model: Transformer, splits: Splits
) -> None:
    """Write ``vocab.json`` and ``attention_view.json``.

    The view holds the attention of ``model`` on the first :data:`NUM_EXAMPLES` test sentences.

    Args:
        ctx: the run's context.
        config: the run's configuration.
        model: the trained Transformer.
        splits: the data (its vocabulary and test sentences).
    """
    if not ctx.is_main:
        return
    save_vocab(ctx.path(VOCAB_FILE), splits.vocab)
    examples = [
        transformer_attention(model, words, splits.vocab, max_length=config.max_decode_length)
        for words in splits.test_sources[:NUM_EXAMPLES]
    ]
    write_view_data(ctx.path(VIEW_FILE), examples)


def explain(run_dir: Path, text: str) -> AttentionExample:
    """The explain hook: the run's Transformer on ``text`` (see :func:`transformer_attention`).

    Raises:
        ExplainError: the run folder lacks the model or the vocabulary, or ``text`` has no
            token.
    """
    vocab = load_vocab(run_dir / VOCAB_FILE)
    model = load_transformer(run_dir)
    max_length = TranslationConfig().max_decode_length
    try:
        config = read_json(run_dir / "config.json")
        if isinstance(config, dict) and isinstance(config.get("max_decode_length"), int):
            max_length = config["max_decode_length"]
    except ReportError:
        pass  # the default length
    return transformer_attention(model, tokenize(text), vocab, max_length=max_length)
