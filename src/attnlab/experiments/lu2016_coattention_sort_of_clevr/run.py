"""Run ``lu2016_coattention_sort_of_clevr``: co-attention vs CNN+MLP on Sort-of-CLEVR.

Both models read the same generated images (Santoro et al. 2017, https://arxiv.org/abs/1706.01427,
appendix D) through the same kind of CNN and are trained with the same schedule, from the same
seed. The co-attention model (:class:`attnlab.architectures.coattention_vqa.CoAttentionVQA`, Lu et
al. 2016, https://arxiv.org/abs/1606.00061) attends the CNN's regions and the question's parts;
the baseline (:class:`~attnlab.architectures.coattention_vqa.NoAttentionVQA`) is Santoro et al.'s
CNN+MLP. Reported: accuracy per question type, relational and non-relational, on held-out images,
the region-attention maps of a few questions, learning curves.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.architectures.coattention_vqa import CoAttentionVQA, NoAttentionVQA
from attnlab.core.init_args import AttnModule
from attnlab.data.sort_of_clevr import (
    ANSWERS,
    COLOURS,
    NUM_ANSWERS,
    QUESTION_TYPES,
    QUESTIONS_PER_IMAGE,
    SortOfCLEVR,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.lu2016_coattention_sort_of_clevr.config import SortOfClevrConfig
from attnlab.train import Callback, FitState, TrainConfig, derive_seed, fit

__all__ = [
    "MODELS",
    "PerImageOutput",
    "PerImageQuestions",
    "accuracy_by_type",
    "build_models",
    "main",
    "question_text",
    "recalibrate_batch_norm",
]

MODELS: tuple[str, str] = ("coattention", "cnn_mlp")
"""Names of the two models in metrics and curves."""

VAL_FIRST_INDEX = 10_000_000
TEST_FIRST_INDEX = 20_000_000
"""Image indices of the validation and test sets (disjoint from training, same seed)."""

_INIT_KEY = 1  # derive_seed(seed, _INIT_KEY): initial weights, the same stream for both models
LOSS_LOG_EVERY = 20


class PerImageOutput(NamedTuple):
    """Output of :class:`PerImageQuestions`.

    Attributes:
        logits: ``(B, Q, num_answers)``.
        image_weights: ``(B, Q, K, N)`` region attention per hop (co-attention only, else
            ``None``).
    """

    logits: Tensor
    image_weights: Tensor | None


class PerImageQuestions(AttnModule):
    """Answer all ``Q`` questions of each image, running the CNN once per image.

    Shape:
        - image: ``(B, 3, H, W)``; questions: ``(B, Q, 11)`` bits.
        - output: :class:`PerImageOutput`.

    Example:
        >>> from attnlab.architectures.coattention_vqa import CoAttentionVQA
        >>> model = PerImageQuestions(CoAttentionVQA(10, channels=(4, 4), hidden_dim=8))
        >>> q = torch.zeros(2, 3, 11); q[..., 0] = q[..., 6] = q[..., 8] = 1
        >>> model(torch.rand(2, 3, 16, 16), q).logits.shape
        torch.Size([2, 3, 10])
    """

    def __init__(self, model: CoAttentionVQA | NoAttentionVQA) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor, questions: Tensor) -> PerImageOutput:
        b, q = questions.shape[:2]
        index = torch.arange(b, device=questions.device).repeat_interleave(q)
        out = self.model(image, questions.flatten(0, 1), image_index=index)
        weights = getattr(out, "image_weights", None)
        return PerImageOutput(
            out.logits.view(b, q, -1),
            None if weights is None else weights.view(b, q, *weights.shape[1:]),
        )


def _flat_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(logits.flatten(0, -2), target.flatten())


def build_models(config: SortOfClevrConfig) -> dict[str, PerImageQuestions]:
    """The co-attention model and the CNN+MLP baseline of ``config``, each wrapped.

    Example:
        >>> models = build_models(SortOfClevrConfig.smoke())
        >>> sorted(models)
        ['cnn_mlp', 'coattention']
    """
    m, size = config.model, config.data.image_size
    coattention = CoAttentionVQA(
        NUM_ANSWERS,
        coattention=m.coattention,
        channels=m.channels,
        embed_dim=m.embed_dim,
        question_dim=m.question_dim,
        attention_dim=m.attention_dim,
        hidden_dim=m.hidden_dim,
        rnn=m.rnn,
        num_hops=m.num_hops,
    )
    baseline = NoAttentionVQA(
        NUM_ANSWERS,
        image_size=(size, size),
        channels=m.channels,
        embed_dim=m.embed_dim,
        question_dim=m.question_dim,
        hidden_dims=m.mlp_hidden,
        rnn=m.rnn,
    )
    return {"coattention": PerImageQuestions(coattention), "cnn_mlp": PerImageQuestions(baseline)}


class _Predictions(NamedTuple):
    correct: Tensor  # (n, 20) bool
    predicted: Tensor  # (n, 20)
    image_weights: Tensor | None  # (n, 20, K, N)


@torch.no_grad()
def _predict(
    model: PerImageQuestions, data: SortOfCLEVR, *, batch_images: int, device: torch.device
) -> _Predictions:
    was_training = model.training
    model.eval()
    predicted, weights = [], []
    try:
        for start in range(0, data.num_images, batch_images):
            rows = torch.arange(start, min(start + batch_images, data.num_images))
            out = model(data.image(rows).to(device), data.questions[rows].to(device))
            predicted.append(out.logits.argmax(-1).cpu())
            if out.image_weights is not None:
                weights.append(out.image_weights.cpu())
    finally:
        model.train(was_training)
    pred = torch.cat(predicted)
    return _Predictions(pred == data.answers, pred, torch.cat(weights) if weights else None)


@torch.no_grad()
def recalibrate_batch_norm(
    model: nn.Module,
    data: SortOfCLEVR,
    *,
    batch_images: int,
    device: torch.device,
    max_images: int = 2_000,
) -> None:
    """Replace the BN running statistics by their average over ``data``'s first images.

    Batch normalisation's running averages (momentum 0.1) trail the weights when a short run
    uses a high learning rate, and evaluation with them was erratic here (e.g. count questions
    swinging between 4% and 60% from one evaluation to the next while the same weights with
    batch statistics held ~68%). As in "precise BN" (Wu and Johnson, "Rethinking 'Batch' in
    BatchNorm", https://arxiv.org/abs/2105.07576, section 3), the statistics are re-estimated
    with the final weights over the training images; no weight changes.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    was_training = model.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    count = min(data.num_images, max_images)
    try:
        for start in range(0, count, batch_images):
            rows = torch.arange(start, min(start + batch_images, count))
            model(data.image(rows).to(device), data.questions[rows].to(device))
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.train(was_training)


def accuracy_by_type(correct: Tensor, question_types: Tensor) -> dict[str, float]:
    """Accuracy in percent per question type, relational, non-relational and overall.

    Example:
        >>> correct = torch.tensor([[True, False, True, True, True, False]])
        >>> acc = accuracy_by_type(correct, torch.arange(6).view(1, 6))
        >>> [round(acc[k], 2) for k in ("relational_accuracy", "non_relational_accuracy")]
        [66.67, 66.67]
        >>> acc["count_accuracy"]
        0.0
    """
    result: dict[str, float] = {}
    c = correct.double()

    def pct(mask: Tensor) -> float:
        return 100.0 * float(c[mask].mean()) if bool(mask.any()) else float("nan")

    for index, name in enumerate(QUESTION_TYPES):
        result[f"{name}_accuracy"] = pct(question_types == index)
    result["closest_furthest_accuracy"] = pct((question_types == 3) | (question_types == 4))
    result["relational_accuracy"] = pct(question_types >= 3)
    result["non_relational_accuracy"] = pct(question_types < 3)
    result["accuracy"] = pct(torch.ones_like(question_types, dtype=torch.bool))
    return result


def question_text(colour: int, question_type: int) -> str:
    """The question in words.

    Example:
        >>> question_text(0, 4)
        'red: shape of the furthest object?'
    """
    words = (
        "shape?",
        "on the left?",
        "at the top?",
        "shape of the closest object?",
        "shape of the furthest object?",
        "how many with its shape?",
    )
    return f"{COLOURS[colour]}: {words[question_type]}"


class _BatchLossCurve(Callback):
    def __init__(self, ctx: RunContext, name: str) -> None:
        self.ctx, self.name, self.total, self.count = ctx, name, 0.0, 0

    def on_step_end(self, state: FitState) -> None:
        if state.loss is None:
            return
        self.total, self.count = self.total + state.loss, self.count + 1
        if state.step % LOSS_LOG_EVERY == 0:
            self.ctx.log(f"{self.name}/batch_loss", self.total / self.count, step=state.step)
            self.total, self.count = 0.0, 0


class _ValidationCurve(Callback):
    """After each epoch: re-estimate BN statistics, log validation accuracy per question group.

    The training loop's own validation uses BN's running averages, which trail the weights in
    these short high-rate runs (see :func:`recalibrate_batch_norm`); these curves do not.
    """

    def __init__(
        self,
        ctx: RunContext,
        name: str,
        model: PerImageQuestions,
        train: SortOfCLEVR,
        val: SortOfCLEVR,
        batch_images: int,
    ) -> None:
        self.ctx, self.name, self.model = ctx, name, model
        self.train, self.val, self.batch_images = train, val, batch_images

    def on_epoch_end(self, state: FitState) -> None:
        device = torch.device(self.ctx.device)
        recalibrate_batch_norm(
            self.model, self.train, batch_images=self.batch_images, device=device,
            max_images=500,
        )
        pred = _predict(self.model, self.val, batch_images=self.batch_images, device=device)
        acc = accuracy_by_type(pred.correct, self.val.question_types)
        for key in ("relational_accuracy", "non_relational_accuracy"):
            self.ctx.log(f"{self.name}/val_{key}", acc[key], step=state.epoch)


def main(config: SortOfClevrConfig, ctx: RunContext) -> dict[str, float]:
    """Train co-attention and CNN+MLP on Sort-of-CLEVR; return accuracies per question type.

    Returns:
        For ``m`` in ``coattention``, ``cnn_mlp``: ``m/<type>_accuracy`` for the six question
        types, ``m/closest_furthest_accuracy``, ``m/relational_accuracy``,
        ``m/non_relational_accuracy``, ``m/accuracy`` (percent, test images), ``m/params``,
        ``m/train_s``; ``coattention_minus_cnn_mlp/relational_accuracy`` (points);
        ``majority/relational_accuracy`` and ``majority/non_relational_accuracy`` (the best
        answer per question type from the training answers: what a blind model gets) and
        ``coattention_minus_majority/relational_accuracy``;
        ``train_images``, ``test_images``, ``image_size``, ``epochs``.
    """
    d = config.data
    sizes = {"image_size": d.image_size, "object_size": d.object_size}
    train = SortOfCLEVR(d.train_images, seed=ctx.seed, **sizes)
    val = SortOfCLEVR(d.val_images, seed=ctx.seed, first_index=VAL_FIRST_INDEX, **sizes)
    test = SortOfCLEVR(d.test_images, seed=ctx.seed, first_index=TEST_FIRST_INDEX, **sizes)
    ctx.logger.info(
        "Sort-of-CLEVR %dx%d: %d training, %d validation, %d test images (x20 questions)",
        d.image_size, d.image_size, d.train_images, d.val_images, d.test_images,
    )
    train_config = TrainConfig(
        epochs=config.optim.epochs,
        batch_size=config.optim.batch_images,
        optimizer="adam",
        lr=config.optim.lr,
        seed=ctx.seed,
        device=str(ctx.device),
    )
    metrics: dict[str, float] = {}
    predictions: dict[str, _Predictions] = {}
    for name in MODELS:
        torch.manual_seed(derive_seed(ctx.seed, _INIT_KEY))
        model = build_models(config)[name]
        metrics[f"{name}/params"] = float(sum(p.numel() for p in model.parameters()))
        result = fit(
            model,
            train.per_image(),
            None,
            config=train_config,
            loss_fn=_flat_cross_entropy,
            run_dir=ctx.checkpoint_dir / name,
            resume=ctx.resume,
            progress=ctx.progress,
            callbacks=(
                _BatchLossCurve(ctx, name),
                _ValidationCurve(ctx, name, model, train, val, config.eval_batch_images),
            ),
        )
        ctx.log_records(result.history, prefix=f"{name}/")
        metrics[f"{name}/train_s"] = result.time_s
        recalibrate_batch_norm(
            model, train, batch_images=config.eval_batch_images, device=torch.device(ctx.device)
        )
        pred = _predict(
            model, test, batch_images=config.eval_batch_images, device=torch.device(ctx.device)
        )
        predictions[name] = pred
        for key, value in accuracy_by_type(pred.correct, test.question_types).items():
            metrics[f"{name}/{key}"] = value
        ctx.logger.info(
            "%s (%d parameters): relational %.1f%%, non-relational %.1f%% (%.0f s)",
            name, metrics[f"{name}/params"], metrics[f"{name}/relational_accuracy"],
            metrics[f"{name}/non_relational_accuracy"], result.time_s,
        )
    metrics["coattention_minus_cnn_mlp/relational_accuracy"] = (
        metrics["coattention/relational_accuracy"] - metrics["cnn_mlp/relational_accuracy"]
    )
    metrics.update(_majority_baseline(train, test))
    metrics["coattention_minus_majority/relational_accuracy"] = (
        metrics["coattention/relational_accuracy"] - metrics["majority/relational_accuracy"]
    )
    metrics["train_images"] = float(d.train_images)
    metrics["test_images"] = float(d.test_images)
    metrics["image_size"] = float(d.image_size)
    metrics["epochs"] = float(config.optim.epochs)
    _plot_accuracy_bars(ctx, metrics)
    _plot_region_attention(ctx, test, predictions["coattention"], config.shown_questions)
    return metrics


def _majority_baseline(train: SortOfCLEVR, test: SortOfCLEVR) -> dict[str, float]:
    """Accuracy of answering each question type with its most frequent training answer."""
    best = torch.stack(
        [
            torch.bincount(train.answers[train.question_types == k], minlength=NUM_ANSWERS).argmax()
            for k in range(len(QUESTION_TYPES))
        ]
    )
    correct = best[test.question_types] == test.answers
    acc = accuracy_by_type(correct, test.question_types)
    return {
        "majority/relational_accuracy": acc["relational_accuracy"],
        "majority/non_relational_accuracy": acc["non_relational_accuracy"],
    }


def _plot_accuracy_bars(ctx: RunContext, metrics: dict[str, float]) -> None:
    from attnlab.interpret.viz import plot_grouped_bars

    with ctx.plotting("accuracy_by_question_type"):
        groups = [*QUESTION_TYPES, "relational", "non_relational"]
        fig = plot_grouped_bars(
            [g.replace("_", "-") for g in groups],
            {name: [metrics[f"{name}/{g}_accuracy"] for g in groups]
             for name in ("coattention", "cnn_mlp")},
            ylabel="test accuracy (%)",
            title="Sort-of-CLEVR accuracy per question type",
            references=[(94.0, "RN > 94% (Santoro et al.)", "--"),
                        (63.0, "CNN+MLP relational 63% (paper)", ":")],
            ylim=(0.0, 100.0),
            rotation=20.0,
        )
        ctx.save_plot(
            fig,
            "accuracy_by_question_type",
            caption=(
                "Held-out accuracy per question type (left three non-relational, next three "
                "relational) of co-attention and CNN+MLP, with the paper's reference levels."
            ),
        )


def _plot_region_attention(
    ctx: RunContext, test: SortOfCLEVR, pred: _Predictions, shown: int
) -> None:
    if pred.image_weights is None:
        return
    from attnlab.interpret.viz import plot_region_attention

    weights = pred.image_weights  # (n, 20, K, N)
    # Alternate non-relational and relational questions over the first images.
    picks: list[tuple[int, int]] = []
    for k in range(shown):
        image, q = k // 2, (k % 2) * (QUESTIONS_PER_IMAGE // 2) + k // 2
        picks.append((image % test.num_images, q))
    titles = []
    for image, q in picks:
        colour, kind = int(test.colours[image, q]), int(test.question_types[image, q])
        answer, truth = int(pred.predicted[image, q]), int(test.answers[image, q])
        titles.append(f"{question_text(colour, kind)}\npred {ANSWERS[answer]} / true "
                      f"{ANSWERS[truth]}")
    with ctx.plotting("region_attention"):
        fig = plot_region_attention(
            [test.image(image) for image, _ in picks],
            torch.stack([weights[image, q] for image, q in picks]),
            titles=titles,
        )
        ctx.save_plot(
            fig,
            "region_attention",
            caption=(
                "Co-attention over the CNN's regions (one cell of the last feature map each) for "
                "held-out questions, one row per hop; a region is shaded darker the less weight it "
                "gets (relative to the most attended region). A model that answers by attention "
                "looks at the object of the asked colour (and, for relational "
                "questions, at the object it is compared with)."
            ),
        )
