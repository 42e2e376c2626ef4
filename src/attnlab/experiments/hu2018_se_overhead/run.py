"""Run the ``hu2018_se_overhead`` experiment: CPU inference time of SE-ResNet-50 vs ResNet-50.

Both models are built with random weights (the weights do not change the time) and timed with
:func:`attnlab.bench.timing.time_models`: ``eval()`` mode, :func:`torch.inference_mode`,
float32, one process, the two models alternately (round-robin, order reversed every other
round) after warm-up passes; the median of the timed passes is compared. The machine (CPU model,
threads, load average before and after) is recorded with the times, because a time means nothing
without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

from attnlab.bench.timing import Machine, Timing, describe_machine, num_threads, time_models
from attnlab.experiments.context import RunContext
from attnlab.experiments.hu2018_se_overhead.config import OverheadConfig
from attnlab.report.files import atomic_write_json
from attnlab.vision.resnet import resnet50, se_resnet50

if TYPE_CHECKING:  # pragma: no cover
    from attnlab.interpret.viz import Figure

__all__ = ["BASELINE", "MACHINE_FILE", "PAPER_MS", "SE_MODEL", "main", "plot_times"]

BASELINE = "resnet50"
SE_MODEL = "se_resnet50"
#: Section 4 of the paper: CPU inference time of one 224 x 224 image, in milliseconds.
PAPER_MS: dict[str, float] = {BASELINE: 164.0, SE_MODEL: 167.0}
MACHINE_FILE = "machine.json"


def main(config: OverheadConfig, ctx: RunContext) -> dict[str, float]:
    """Time ResNet-50 and SE-ResNet-50 at every batch size of ``config``.

    Returns:
        Per batch size ``b``: ``time_ms/<model>/batch<b>`` (median milliseconds per forward
        pass), ``time_iqr_ms/<model>/batch<b>`` (inter-quartile range), ``time_ratio/batch<b>``
        (SE-ResNet-50 median / ResNet-50 median, the paper's 167/164) and
        ``time_ratio_best/batch<b>`` (ratio of the fastest passes); and the machine:
        ``machine/torch_threads``, ``machine/logical_cpus``, ``machine/load_average_1m_before``
        and ``machine/load_average_1m_after``.
    """
    if ctx.device.type != "cpu":
        ctx.logger.warning("the claim is about CPU inference: timing on the CPU, not %s",
                           ctx.device)
    generator = torch.Generator().manual_seed(ctx.seed)
    results: dict[int, dict[str, Timing]] = {}
    with num_threads(config.threads or None):
        before = describe_machine()
        ctx.logger.info("machine before timing: %s", before.describe())
        models = {BASELINE: resnet50(), SE_MODEL: se_resnet50(config.reduction)}
        for batch in config.batch_sizes:
            size = config.image_size
            x = torch.randn(batch, 3, size, size, generator=generator)
            repeats = config.repeats if batch == 1 else config.repeats_batched
            timings = time_models(models, x, repeats=repeats, warmup=config.warmup)
            results[batch] = timings
            base, se = timings[BASELINE], timings[SE_MODEL]
            ctx.logger.info(
                "batch %d, %d x %d: ResNet-50 %.1f ms, SE-ResNet-50 %.1f ms (medians of %d), "
                "ratio %.3f (paper 167/164 = %.3f)",
                batch, size, size, 1e3 * base.median, 1e3 * se.median, repeats,
                se.median / base.median, PAPER_MS[SE_MODEL] / PAPER_MS[BASELINE],
            )
        after = describe_machine()
        ctx.logger.info("machine after timing: %s", after.describe())

    metrics: dict[str, float] = {}
    for batch, timings in results.items():
        for name, timing in timings.items():
            q1, q3 = timing.quartiles
            metrics[f"time_ms/{name}/batch{batch}"] = 1e3 * timing.median
            metrics[f"time_iqr_ms/{name}/batch{batch}"] = 1e3 * (q3 - q1)
        base, se = timings[BASELINE], timings[SE_MODEL]
        metrics[f"time_ratio/batch{batch}"] = se.median / base.median
        metrics[f"time_ratio_best/batch{batch}"] = se.best / base.best
    metrics["machine/torch_threads"] = float(before.torch_threads)
    metrics["machine/logical_cpus"] = float(before.logical_cpus)
    if before.load_average is not None and after.load_average is not None:
        metrics["machine/load_average_1m_before"] = before.load_average[0]
        metrics["machine/load_average_1m_after"] = after.load_average[0]

    if ctx.is_main:
        atomic_write_json(
            ctx.path(MACHINE_FILE),
            {
                "before": before.to_dict(),
                "after": after.to_dict(),
                "seconds": {
                    f"batch{b}": {name: list(t.seconds) for name, t in timings.items()}
                    for b, timings in results.items()
                },
            },
        )
    with ctx.plotting("inference_times"):
        ctx.save_plot(
            plot_times(results, image_size=config.image_size),
            "inference_times",
            caption=(
                f"Milliseconds per forward pass ({config.image_size} x {config.image_size}, "
                "eval mode, inference mode, float32, the two models timed alternately); each "
                "point is one timed pass, the bar and the label the median. Machine: "
                f"{before.describe()}; 1-minute load average after timing: {_load(after)}. "
                "Paper (section 4): 164 ms vs 167 ms on its "
                f"CPU, ratio 1.018. Raw times in {MACHINE_FILE}."
            ),
        )
    return metrics


def _load(machine: Machine) -> str:
    return "unknown" if machine.load_average is None else f"{machine.load_average[0]:.2f}"


def plot_times(
    results: Mapping[int, Mapping[str, Timing]], *, image_size: int = 224
) -> Figure:
    """One panel per batch size: every timed pass of each model (points) and its median (bar).

    Args:
        results: batch size -> model name -> :class:`~attnlab.bench.timing.Timing`.
        image_size: the input side, for the title.

    Returns:
        A matplotlib ``Figure``.
    """
    from attnlab.interpret.viz import plot_timings

    labels = {BASELINE: "ResNet-50", SE_MODEL: "SE-ResNet-50"}
    panels = {}
    for batch, timings in results.items():
        ratio = timings[SE_MODEL].median / timings[BASELINE].median
        title = (f"batch {batch}, {image_size}x{image_size}: ratio {ratio:.3f}\n"
                 "(paper: 167/164 = 1.018)")
        panels[title] = {labels.get(name, name): [1e3 * s for s in timing.seconds]
                         for name, timing in timings.items()}
    return plot_timings(panels, ylabel="ms per forward pass")
