"""Run the ``demo_retrieval`` experiment: train, evaluate, plot where the attention went.

Reuses the task generator and the model of :mod:`attnlab.demo`; what this adds over ``attnlab
demo`` is the run directory: learning curves (training loss, validation accuracy and attention on
the matching pair), the heat map saved through the run context, and metrics checked against the
claim.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnlab.demo import NUM_VALUES, RetrievalModel, make_retrieval_batch
from attnlab.experiments.context import RunContext
from attnlab.experiments.demo_retrieval.config import RetrievalConfig

__all__ = ["evaluate", "main"]

# The held-out set is drawn from seed + TEST_SEED_OFFSET, as in attnlab.demo.run_demo, so the two
# report comparable numbers; validation uses another stream.
TEST_SEED_OFFSET = 10_000
VAL_SEED_OFFSET = 20_000


def evaluate(
    model: RetrievalModel, batch: tuple[Tensor, Tensor, Tensor, Tensor, Tensor]
) -> tuple[float, float, Tensor]:
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


def main(config: RetrievalConfig, ctx: RunContext) -> dict[str, float]:
    """Train additive attention on key-value retrieval; return held-out accuracy and attention.

    Returns:
        ``test_accuracy`` and ``test_attention_on_target`` (fractions), ``chance_accuracy``,
        ``final_train_loss`` and ``steps``.
    """
    device = ctx.device
    generator = torch.Generator().manual_seed(ctx.seed)

    def batch(size: int, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        parts = make_retrieval_batch(
            size, generator=gen, min_pairs=config.min_pairs, max_pairs=config.max_pairs
        )
        return tuple(t.to(device) for t in parts)  # type: ignore[return-value]

    val_batch = batch(config.val_size, torch.Generator().manual_seed(ctx.seed + VAL_SEED_OFFSET))
    model = RetrievalModel(dim=config.model.dim, hidden_dim=config.model.hidden_dim).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.optim.lr)
    loss_fn = nn.CrossEntropyLoss()

    running, seen, loss_value = 0.0, 0, float("nan")
    for step in range(1, config.steps + 1):
        keys, values, query, mask, target = batch(config.optim.batch_size, generator)
        answer = values.gather(1, target.unsqueeze(1)).squeeze(1)
        logits, _ = model(keys, values, query, mask)
        loss = loss_fn(logits, answer)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running, seen = running + loss.item(), seen + 1
        if step % config.eval_every == 0 or step == config.steps:
            loss_value = running / seen
            accuracy, on_target, _ = evaluate(model, val_batch)
            ctx.log("train_loss", loss_value, step=step)
            ctx.log("val_accuracy", accuracy, step=step)
            ctx.log("val_attention_on_target", on_target, step=step)
            ctx.logger.info(
                "step %d/%d  loss %.3f  val accuracy %.1f%%  attention on target %.1f%%",
                step, config.steps, loss_value, 100 * accuracy, 100 * on_target,
            )
            running, seen = 0.0, 0

    test_batch = batch(config.test_size, torch.Generator().manual_seed(ctx.seed + TEST_SEED_OFFSET))
    accuracy, on_target, weights = evaluate(model, test_batch)
    _plot_attention(ctx, test_batch, weights, rows=min(config.shown_queries, config.test_size))
    return {
        "test_accuracy": accuracy,
        "test_attention_on_target": on_target,
        "chance_accuracy": 1.0 / NUM_VALUES,
        "final_train_loss": loss_value,
        "steps": float(config.steps),
    }


def _plot_attention(
    ctx: RunContext,
    test_batch: tuple[Tensor, Tensor, Tensor, Tensor, Tensor],
    weights: Tensor,
    *,
    rows: int,
) -> None:
    try:
        from attnlab.interpret.plots import plot_attention
    except ImportError:  # pragma: no cover - plotting is optional
        return
    _, _, query, mask, target = (t[:rows].cpu() for t in test_batch)
    try:
        ax = plot_attention(
            weights[:rows].cpu(),
            row_labels=[f"q={int(q)} (pair {int(t)})" for q, t in zip(query, target, strict=True)],
            col_labels=[f"pair {j}" for j in range(weights.shape[1])],
            title="Additive attention on held-out queries (grey: padding)",
            mask=mask,
        )
    except ImportError as error:
        ctx.logger.warning("no attention plot: %s", error)
        return
    ctx.save_plot(
        ax,
        "attention_heatmap",
        caption=(
            "Attention weights of held-out queries over their (key, value) pairs. Each row's "
            "label names the pair holding the query key; a trained model puts its weight there."
        ),
    )
