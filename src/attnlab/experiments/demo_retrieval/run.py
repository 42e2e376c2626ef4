"""Run the ``demo_retrieval`` experiment: train, evaluate, plot where the attention went.

Reuses the task generator and the model of :mod:`attnlab.demo`; what this adds over ``attnlab
demo`` is the run directory: learning curves (training loss, validation accuracy and attention on
the matching pair), the heat map saved through the run context, and metrics checked against the
claim.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnlab.demo import (
    NUM_VALUES,
    TEST_SEED_OFFSET,
    RetrievalModel,
    evaluate_retrieval,
    make_retrieval_batch,
    train_retrieval,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.demo_retrieval.config import RetrievalConfig

__all__ = ["main"]

# Validation uses its own generated stream, apart from the held-out test batches.
VAL_SEED_OFFSET = 20_000


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
    window: list[float] = []
    last_loss = [float("nan")]

    def on_step(step: int, loss: float) -> None:
        window.append(loss)
        if step % config.eval_every == 0 or step == config.steps:
            last_loss[0] = sum(window) / len(window)
            window.clear()
            accuracy, on_target, _ = evaluate_retrieval(model, val_batch)
            ctx.log("train_loss", last_loss[0], step=step)
            ctx.log("val_accuracy", accuracy, step=step)
            ctx.log("val_attention_on_target", on_target, step=step)
            ctx.logger.info(
                "step %d/%d  loss %.3f  val accuracy %.1f%%  attention on target %.1f%%",
                step, config.steps, last_loss[0], 100 * accuracy, 100 * on_target,
            )

    train_retrieval(
        model,
        steps=config.steps,
        batch_size=config.optim.batch_size,
        lr=config.optim.lr,
        generator=generator,
        min_pairs=config.min_pairs,
        max_pairs=config.max_pairs,
        device=device,
        on_step=on_step,
    )
    loss_value = last_loss[0]

    test_batch = batch(config.test_size, torch.Generator().manual_seed(ctx.seed + TEST_SEED_OFFSET))
    accuracy, on_target, weights = evaluate_retrieval(model, test_batch)
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
    from attnlab.interpret.plots import plot_attention

    _, _, query, mask, target = (t[:rows].cpu() for t in test_batch)
    with ctx.plotting("attention_heatmap"):
        ax = plot_attention(
            weights[:rows].cpu(),
            row_labels=[f"q={int(q)} (pair {int(t)})" for q, t in zip(query, target, strict=True)],
            col_labels=[f"pair {j}" for j in range(weights.shape[1])],
            title="Additive attention on held-out queries (grey: padding)",
            mask=mask,
        )
        ctx.save_plot(
            ax,
            "attention_heatmap",
            caption=(
                "Attention weights of held-out queries over their (key, value) pairs. Each row's "
                "label names the pair holding the query key; a trained model puts its weight "
                "there."
            ),
        )
