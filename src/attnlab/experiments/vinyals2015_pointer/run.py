"""Run ``vinyals2015_pointer``: train Ptr-Net and seq2seq-attention, evaluate per ``n``, plot.

For each task (convex hull, sorting) both models are trained with :func:`attnlab.train.fit` on
instances with ``n`` in ``[train_min_n, train_max_n]`` and evaluated by greedy decoding on fresh
instances for every ``n`` in ``test_n``, some above the training range (generalisation).

Metrics (fractions in ``[0, 1]``):

* ``{task}/{model}/accuracy/n{n}``: exact-match sequence accuracy (hull: the vertices in the
  canonical order, then stop; sort: the whole permutation);
* ``convex_hull/{model}/area_coverage/n{n}``: mean of :func:`~attnlab.data.geometry.
  hull_area_coverage` (0 for a prediction that is not a simple polygon);
* ``tsp/{model}/valid_fraction/n{n}`` (outputs that are permutations) and
  ``tsp/{model}/tour_ratio/n{n}`` (mean length of the valid predicted tours over the optimal
  length; 1 is optimal); a TSP output counts as accurate when it is the optimal tour in either
  direction (section 4.4, with exact Held-Karp labels);
* ``{task}/{model}/accuracy_in_range`` (at ``train_max_n``) and ``..._beyond`` (at the largest
  test ``n``), the same for ``area_coverage``;
* ``{task}/ptr_minus_seq2seq/{metric}``: Ptr-Net minus the baseline, the quantities the targets
  check.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from attnlab.data.geometry import (
    IGNORE_INDEX,
    PointerInstance,
    hull_area_coverage,
    make_instances,
    pad_batch,
    tour_length,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.vinyals2015_pointer.config import PointerConfig
from attnlab.experiments.vinyals2015_pointer.models import PointerModel, Seq2SeqPositions
from attnlab.train import TrainConfig, derive_seed, fit

__all__ = ["main", "sequence_metrics", "sequence_nll"]

# Disjoint instance ranges of one seed: training, validation, then one test block per n.
_VAL_START = 10_000_000
_TEST_START = 20_000_000
_EVAL_BATCH = 500


def sequence_nll(log_probs: Tensor, target: Tensor) -> Tensor:
    """Mean negative log-likelihood per output step; padded steps (``-100``) are ignored."""
    return F.nll_loss(log_probs.flatten(0, 1), target.flatten(), ignore_index=IGNORE_INDEX)


def _dataset(instances: list[PointerInstance], *, end_token: bool,
             max_length: int | None = None) -> TensorDataset:
    batch = pad_batch(instances, end_token=end_token, max_length=max_length)
    mask = torch.arange(batch.inputs.shape[1])[None] < batch.lengths[:, None]
    return TensorDataset(batch.inputs, mask, batch.targets, batch.targets)


def _sequences(pointers: Tensor) -> list[list[int]]:
    return [[p for p in row if p != IGNORE_INDEX] for row in pointers.tolist()]


def sequence_metrics(task: str, instances: list[PointerInstance],
                     predicted: list[list[int]]) -> dict[str, float]:
    """Exact-match accuracy (and hull area coverage) of predicted pointer sequences.

    ``predicted`` uses the models' indices: for the hull 0 = stop and ``j + 1`` = input ``j``.

    Example:
        >>> from attnlab.data.geometry import convex_hull_instances
        >>> inst = convex_hull_instances(1, 6, seed=0)
        >>> perfect = [[t + 1 for t in inst[0].target] + [0]]
        >>> sequence_metrics("convex_hull", inst, perfect)
        {'accuracy': 1.0, 'area_coverage': 1.0}
    """
    end = task == "convex_hull"
    correct, coverage, valid, ratio = 0, 0.0, 0, 0.0
    for inst, seq in zip(instances, predicted, strict=True):
        expected = [t + 1 for t in inst.target] + [0] if end else list(inst.target)
        if task == "tsp":
            reverse = [expected[0], *expected[1:][::-1]]
            correct += int(seq in (expected, reverse))
            if sorted(seq) == list(range(len(expected))):
                valid += 1
                ratio += tour_length(inst.inputs, seq) / tour_length(inst.inputs, expected)
            continue
        correct += int(seq == expected)
        if end:
            polygon = [p - 1 for p in seq if p != 0]
            coverage += hull_area_coverage(inst.inputs, polygon, inst.target)
    out = {"accuracy": correct / len(instances)}
    if end:
        out["area_coverage"] = coverage / len(instances)
    if task == "tsp":
        out["valid_fraction"] = valid / len(instances)
        if valid:  # left out when no prediction is a tour
            out["tour_ratio"] = ratio / valid
    return out


def _build(name: str, task: str, config: PointerConfig, vocab_size: int) -> nn.Module:
    input_dim = 1 if task == "sort" else 2
    end = task == "convex_hull"
    m = config.model
    if name == "ptr_net":
        return PointerModel(input_dim, m.hidden_dim, end_token=end,
                            embedding_dim=m.embedding_dim, init_range=m.init_range)
    return Seq2SeqPositions(input_dim, m.hidden_dim, vocab_size=vocab_size, end_token=end,
                            embedding_dim=m.embedding_dim, init_range=m.init_range)


@torch.no_grad()
def _predict(model: nn.Module, name: str, dataset: TensorDataset, device: torch.device,
             beam_size: int) -> list[list[int]]:
    model.eval()
    inputs, mask = dataset.tensors[0], dataset.tensors[1]
    out: list[list[int]] = []
    for start in range(0, inputs.shape[0], _EVAL_BATCH):
        x = inputs[start:start + _EVAL_BATCH].to(device)
        m = mask[start:start + _EVAL_BATCH].to(device)
        if name == "ptr_net":
            pointers = model.decode(x, m, beam_size=beam_size).pointers  # type: ignore[operator]
        else:
            pointers = model.decode(x, m)  # type: ignore[operator]
        out.extend(_sequences(pointers.cpu()))
    return out


def main(config: PointerConfig, ctx: RunContext) -> dict[str, float]:
    """Train and evaluate every (task, model) pair; return the per-``n`` metrics.

    Returns:
        The metrics described in the module docstring, plus ``{task}/{model}/train_time_s``.
    """
    data = config.data
    device = ctx.device
    metrics: dict[str, float] = {}
    curves: dict[str, dict[str, dict[int, float]]] = {}
    shown: dict[str, Any] = {}
    # The baseline's dictionary covers every test position (+ stop), although positions above
    # train_max_n never occur in training: this is why it cannot generalise.
    vocab_size = max(data.test_n) + 1
    for task_index, task in enumerate(config.tasks):
        end = task == "convex_hull"
        seed = ctx.seed + 1000 * task_index
        n_range = (data.train_min_n, data.train_max_n)
        train = _dataset(make_instances(task, data.train_size, n_range, seed=seed), end_token=end)
        val = _dataset(make_instances(task, data.val_size, n_range, seed=seed, start=_VAL_START),
                       end_token=end)
        tests = {
            n: make_instances(task, data.test_size, n, seed=seed, start=_TEST_START + 100_000 * n)
            for n in data.test_n
        }
        for name in config.models:
            torch.manual_seed(derive_seed(seed, config.models.index(name) + 1) % 2**63)
            model = _build(name, task, config, vocab_size)
            train_config = TrainConfig(
                epochs=(config.optim.sort_epochs or config.optim.epochs) if task == "sort"
                else config.optim.epochs,
                batch_size=config.optim.batch_size,
                optimizer=config.optim.optimizer,
                lr=config.optim.lr,
                grad_clip=config.optim.grad_clip,
                seed=seed,
                device=str(device),
            )
            started = time.perf_counter()
            result = fit(
                model, train, val, config=train_config, loss_fn=sequence_nll,
                run_dir=ctx.checkpoint_dir / f"{task}_{name}", resume=ctx.resume,
                progress=ctx.progress,
            )
            metrics[f"{task}/{name}/train_time_s"] = time.perf_counter() - started
            ctx.log_records(result.history, prefix=f"{task}/{name}/")
            for n, instances in tests.items():
                dataset = _dataset(instances, end_token=end)
                predicted = _predict(model, name, dataset, device, config.beam_size)
                for metric, value in sequence_metrics(task, instances, predicted).items():
                    metrics[f"{task}/{name}/{metric}/n{n}"] = value
                    curves.setdefault(f"{task}/{metric}", {}).setdefault(name, {})[n] = value
            for metric in ("accuracy", "area_coverage") if end else ("accuracy",):
                metrics[f"{task}/{name}/{metric}_in_range"] = (
                    metrics[f"{task}/{name}/{metric}/n{data.train_max_n}"])
                metrics[f"{task}/{name}/{metric}_beyond"] = (
                    metrics[f"{task}/{name}/{metric}/n{max(data.test_n)}"])
            ctx.logger.info(
                "%s %s: accuracy %s", task, name,
                ", ".join(f"n={n} {metrics[f'{task}/{name}/accuracy/n{n}']:.3f}"
                          for n in data.test_n),
            )
            if task == "convex_hull" and name == "ptr_net":
                shown["model"] = model
                shown["instances"] = {n: tests[n][0] for n in (data.train_max_n,
                                                               max(data.test_n))}
        if set(config.models) == {"ptr_net", "seq2seq"}:
            for suffix in ("accuracy_in_range", "accuracy_beyond") + (
                ("area_coverage_in_range", "area_coverage_beyond") if end else ()
            ):
                metrics[f"{task}/ptr_minus_seq2seq/{suffix}"] = (
                    metrics[f"{task}/ptr_net/{suffix}"] - metrics[f"{task}/seq2seq/{suffix}"])
    _plot_curves(ctx, curves, config)
    if shown:
        _plot_pointers(ctx, shown["model"], shown["instances"], device)
    return metrics


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def _plot_curves(ctx: RunContext, curves: dict[str, dict[str, dict[int, float]]],
                 config: PointerConfig) -> None:
    from attnlab.interpret.viz import plot_curve_panels

    with ctx.plotting("accuracy_vs_n"):
        labels = {"ptr_net": "Ptr-Net", "seq2seq": "seq2seq + attention"}
        panels = {
            panel.replace("/", ": ").replace("_", " "): {
                labels[name]: points for name, points in curves[panel].items()
            }
            for panel in sorted(curves)
        }
        fig = plot_curve_panels(
            panels, xlabel="n (points / numbers)",
            span=(config.data.train_min_n, config.data.train_max_n, "training n"),
            unit_interval=[panel.replace("/", ": ").replace("_", " ") for panel in curves
                           if not panel.endswith("tour_ratio")],
        )
        ctx.save_plot(
            fig, "accuracy_vs_n",
            caption=(
                "Exact-match sequence accuracy (and convex-hull area coverage, TSP validity and "
                "tour-length ratio when run) against the input size n, greedy decoding. Grey: the "
                "training range; sizes to its right test generalisation. The baseline's output "
                "dictionary holds every position, but positions above the training n never appear "
                "in its training targets."
            ),
        )


def _plot_pointers(ctx: RunContext, model: nn.Module, instances: dict[int, PointerInstance],
                   device: torch.device) -> None:
    from attnlab.interpret.viz import plot_pointer_distributions

    for n, inst in instances.items():
        batch = pad_batch([inst], end_token=True)
        mask = torch.ones(1, n, dtype=torch.bool, device=device)
        out = model.decode(batch.inputs.to(device), mask)  # type: ignore[operator]
        steps = int((out.pointers[0] != IGNORE_INDEX).sum())
        weights = out.weights[0, :steps].cpu()
        seq = [p for p in out.pointers[0].tolist() if p != IGNORE_INDEX]
        with ctx.plotting(f"pointer_distributions_hull_n{n}"):
            fig = plot_pointer_distributions(
                weights,
                input_labels=["stop", *[str(j) for j in range(n)]],
                step_labels=[f"step {i}: {'stop' if p == 0 else p - 1}"
                             for i, p in enumerate(seq)],
                points=torch.as_tensor(inst.inputs),
                target=list(inst.target),
                predicted=[p - 1 for p in seq if p != 0],
                points_title=f"convex hull, n = {n}",
                target_label="true hull",
                predicted_label="Ptr-Net",
            )
            ctx.save_plot(
                fig, f"pointer_distributions_hull_n{n}",
                caption=(
                    f"A held-out convex-hull instance with n = {n}: the points and hulls (left) "
                    "and Ptr-Net's pointer distribution at each output step (right; rows sum to "
                    "1, inputs already chosen get exactly 0, 'stop' ends the output)."
                ),
            )
