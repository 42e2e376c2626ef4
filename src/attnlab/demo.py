"""A tiny end-to-end demo: train additive attention on key-value retrieval and show its weights.

Each example is a list of ``n`` (key, value) symbol pairs, padded to a fixed length, and a query
key. The answer is the value stored under the query key, so a model can only solve the task by
attending to the matching pair; its attention weights should therefore land on that pair. The data
is generated, so the demo needs no download.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from attnlab.core.init_args import AttnModule
from attnlab.core.masks import lengths_to_mask
from attnlab.core.output import AttentionOutput
from attnlab.mechanisms.attention import AdditiveAttention

__all__ = [
    "DemoResult",
    "RetrievalModel",
    "evaluate_retrieval",
    "make_retrieval_batch",
    "run_demo",
    "train_retrieval",
]

NUM_KEYS = 16
NUM_VALUES = 10
MAX_PAIRS = 8
# held-out batches are drawn from seed + TEST_SEED_OFFSET (the demo and the experiment agree)
TEST_SEED_OFFSET = 10_000


def make_retrieval_batch(
    batch_size: int, *, generator: torch.Generator, min_pairs: int = 3, max_pairs: int = MAX_PAIRS
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """A batch of the retrieval task.

    Returns:
        ``keys (B, P)``, ``values (B, P)``, ``query (B,)``, ``mask (B, P)`` (``True`` at real
        pairs) and ``target (B,)``, the position of the pair holding the query key; the answer
        is ``values[b, target[b]]``.
    """
    lengths = torch.randint(min_pairs, max_pairs + 1, (batch_size,), generator=generator)
    # distinct keys per example: the first max_pairs of a random permutation
    order = torch.argsort(torch.rand(batch_size, NUM_KEYS, generator=generator), dim=1)
    keys = order[:, :max_pairs]
    values = torch.randint(0, NUM_VALUES, (batch_size, max_pairs), generator=generator)
    mask = lengths_to_mask(lengths, max_pairs)
    target = (torch.rand(batch_size, generator=generator) * lengths).long()
    query = keys.gather(1, target.unsqueeze(1)).squeeze(1)
    return keys, values, query, mask, target


class RetrievalModel(AttnModule):
    """Embeddings + :class:`~attnlab.AdditiveAttention` + a linear read-out of the context."""

    def __init__(self, dim: int = 32, hidden_dim: int = 32) -> None:
        super().__init__()
        self.key_embedding = nn.Embedding(NUM_KEYS, dim)
        self.value_embedding = nn.Embedding(NUM_VALUES, dim)
        self.query_embedding = nn.Embedding(NUM_KEYS, dim)
        self.attention = AdditiveAttention(dim, dim, hidden_dim=hidden_dim)
        self.readout = nn.Linear(dim, NUM_VALUES)

    def forward(self, keys: Tensor, values: Tensor, query: Tensor, mask: Tensor) -> AttentionOutput:
        q = self.query_embedding(query).unsqueeze(1)  # (b, 1, d)
        k = self.key_embedding(keys)  # (b, j, d)
        v = self.value_embedding(values)  # (b, j, d)
        out = self.attention(q, k, v, mask=mask)
        logits = self.readout(out.context.squeeze(1))  # (b, values)
        return AttentionOutput(logits, out.weights)


@dataclass(frozen=True)
class DemoResult:
    """What the demo measured on a held-out batch."""

    accuracy: float
    attention_on_target: float
    plot: Path | None


RetrievalBatch = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


def train_retrieval(
    model: RetrievalModel,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    generator: torch.Generator,
    min_pairs: int = 3,
    max_pairs: int = MAX_PAIRS,
    device: torch.device | str | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> None:
    """Train ``model`` on fresh generated batches with Adam; ``on_step(step, loss)`` after each.

    The one training loop of the retrieval task, shared by ``attnlab demo`` and the
    ``demo_retrieval`` experiment (the batches are generated, so there is no dataset to hand to
    :func:`attnlab.train.fit`).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for step in range(1, steps + 1):
        keys, values, query, mask, target = (
            t.to(device) if device is not None else t
            for t in make_retrieval_batch(
                batch_size, generator=generator, min_pairs=min_pairs, max_pairs=max_pairs
            )
        )
        answer = values.gather(1, target.unsqueeze(1)).squeeze(1)
        logits, _ = model(keys, values, query, mask)
        loss = loss_fn(logits, answer)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on_step is not None:
            on_step(step, loss.item())


def evaluate_retrieval(model: RetrievalModel, batch: RetrievalBatch) -> tuple[float, float, Tensor]:
    """Accuracy, mean attention on the matching pair, and the ``(B, P)`` weights on ``batch``."""
    keys, values, query, mask, target = batch
    answer = values.gather(1, target.unsqueeze(1)).squeeze(1)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits, weights = model(keys, values, query, mask)
    model.train(was_training)
    assert weights is not None
    weights = weights[:, 0]  # (b, j): one query per example
    accuracy = float((logits.argmax(-1) == answer).float().mean())
    on_target = float(weights.gather(1, target.unsqueeze(1)).mean())
    return accuracy, on_target, weights


def run_demo(
    *,
    steps: int = 400,
    seed: int = 0,
    out_dir: str | Path | None = "attnlab-demo",
    plot: bool = True,
    progress: bool = True,
    batch_size: int = 64,
) -> DemoResult:
    """Train the retrieval model, print its accuracy and attention, optionally save a heat map."""
    from attnlab.interpret.plots import ascii_heatmap

    torch.manual_seed(seed)
    model = RetrievalModel()
    bar = _progress(steps, enabled=progress)
    train_retrieval(
        model,
        steps=steps,
        batch_size=batch_size,
        generator=torch.Generator().manual_seed(seed),
        on_step=lambda step, loss: bar(step, f"loss {loss:.3f}"),
    )
    test_gen = torch.Generator().manual_seed(seed + TEST_SEED_OFFSET)
    test_batch = make_retrieval_batch(1000, generator=test_gen)
    _, _, query, mask, target = test_batch
    accuracy, on_target, weights = evaluate_retrieval(model, test_batch)
    print(f"\nheld-out accuracy {accuracy:.1%} (chance {1 / NUM_VALUES:.0%}); "
          f"mean attention on the matching pair {on_target:.1%}")
    print("attention of 6 held-out queries over their pairs (^ marks the matching pair,"
          " blank = padding):")
    rows = weights[:6]
    labels = [f"query {int(q):2d}" for q in query[:6]]
    print(ascii_heatmap(rows, row_labels=labels, highlight=target[:6].tolist()))

    path = None
    if plot and out_dir is not None:
        try:
            from attnlab.interpret.plots import plot_attention, save_figure

            ax = plot_attention(
                rows,
                row_labels=[f"q={int(q)} (pair {int(t)})" for q, t in zip(query[:6], target[:6],
                                                                          strict=True)],
                col_labels=[f"pair {j}" for j in range(rows.shape[1])],
                title="Additive attention on key-value retrieval (grey: padding)",
                mask=mask[:6],
            )
            path = save_figure(ax, Path(out_dir) / "attention.png")
            print(f"heat map written to {path}")
        except ImportError as error:
            print(f"(no plot: {error})")
    return DemoResult(accuracy, on_target, path)


def _progress(total: int, *, enabled: bool):  # type: ignore[no-untyped-def]
    """A progress bar (tqdm when installed, else a plain carriage-return line)."""
    if not enabled:
        return lambda step, text: None
    try:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="training", unit="step", leave=True)

        def update(step: int, text: str) -> None:
            bar.update(step - bar.n)
            bar.set_postfix_str(text, refresh=False)
            if step == total:
                bar.close()

        return update
    except ImportError:

        def update_plain(step: int, text: str) -> None:
            if step % max(1, total // 50) == 0 or step == total:
                sys.stderr.write(f"\rtraining {step}/{total} {text}")
                if step == total:
                    sys.stderr.write("\n")

        return update_plain
