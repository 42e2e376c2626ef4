"""``jaderberg2015_distorted_mnist``: spatial transformers on distorted MNIST (Table 1).

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, section 4.1. FCN, CNN, ST-FCN and ST-CNN (affine, projective,
thin-plate-spline transformers) on rotated (R), rotated-translated-scaled (RTS), projective (P)
and elastically warped (E) MNIST, all with about the same number of parameters. The claim
checked at every scale from ``quick`` up: on RTS the ST-CNN has a lower test error than the CNN
(paper: 0.5% vs 0.8%).

The models are in :mod:`attnlab.architectures.stn_classifiers`; the sampling-grid figure
(:mod:`.plots`) is shared with the other spatial-transformer experiments.
"""

from attnlab.data.mnist import MNIST_RESOURCE
from attnlab.experiments.jaderberg2015_distorted_mnist.config import (
    SYNTHETIC_DIGITS_FALLBACK,
    DistortedMNISTConfig,
)
from attnlab.experiments.jaderberg2015_distorted_mnist.run import main
from attnlab.experiments.registry import DataRequirement, Experiment, register_experiment
from attnlab.report.checks import Target
from attnlab.vision.spatial_transformer import SPATIAL_TRANSFORMER_PAPER

__all__ = ["EXPERIMENT", "MNIST_DIGITS", "TABLE1"]

#: The data of the three spatial-transformer experiments (synthetic digits stand in for tests).
MNIST_DIGITS = DataRequirement.from_resource(
    MNIST_RESOURCE, "MNIST IDX files (60k/10k)", fallback=SYNTHETIC_DIGITS_FALLBACK
)

#: Table 1 of the paper, % test error: model -> (R, RTS, P, E).
TABLE1: dict[str, tuple[float, float, float, float]] = {
    "fcn": (2.1, 5.2, 3.1, 3.2),
    "cnn": (1.2, 0.8, 1.5, 1.4),
    "st_fcn_aff": (1.2, 0.8, 1.5, 2.7),
    "st_fcn_proj": (1.3, 0.9, 1.4, 2.6),
    "st_fcn_tps": (1.1, 0.8, 1.4, 2.4),
    "st_cnn_aff": (0.7, 0.5, 0.8, 1.2),
    "st_cnn_proj": (0.8, 0.6, 0.8, 1.3),
    "st_cnn_tps": (0.7, 0.5, 0.8, 1.1),
}

_COLUMNS = ("r", "rts", "p", "e")
_ROW_NAMES = {
    "fcn": "FCN",
    "cnn": "CNN",
    "st_fcn_aff": "ST-FCN Aff",
    "st_fcn_proj": "ST-FCN Proj",
    "st_fcn_tps": "ST-FCN TPS",
    "st_cnn_aff": "ST-CNN Aff",
    "st_cnn_proj": "ST-CNN Proj",
    "st_cnn_tps": "ST-CNN TPS",
}


def _table1_tolerance(model: str, paper: float) -> float:
    """Allowed excess error (percentage points) of the shortened ``full`` schedule.

    See the README: the shortened schedule sees about 4% of the paper's training images, on
    one seed instead of the mean of three; the allowance is the paper's own error (at most
    twice the paper's number), and 1.5 times it for the FCN, whose narrow hidden layers learn
    the slowest. A prior: not fitted to a full-scale run.
    """
    return round((1.5 if model == "fcn" else 1.0) * paper, 2)


_TARGETS: list[Target] = [
    Target(
        "gap/rts/cnn_minus_st_cnn_aff",
        paper=0.3,
        tolerance=0.295,
        direction="higher",
        source="Table 1, RTS: CNN 0.8% - ST-CNN Aff 0.5%; claim: ST-CNN error < CNN error",
        scales=("quick", "full"),
        paper_origin="derived",
    ),
]
for _model, _errors in TABLE1.items():
    for _column, _paper in zip(_COLUMNS, _errors, strict=True):
        _TARGETS.append(
            Target(
                f"error/{_column}/{_model}",
                paper=_paper,
                tolerance=_table1_tolerance(_model, _paper),
                direction="lower",
                source=f"Table 1, {_column.upper()}, {_ROW_NAMES[_model]}",
                scales=("full",),
            )
        )

# The shortened schedules (README): smaller batches and momentum make up for ~25 times fewer
# samples than the paper's 150k x 256.
_SHORT_SCHEDULE = {"optim.batch_size": 64, "optim.lr": 0.05, "optim.momentum": 0.9}

EXPERIMENT = register_experiment(
    Experiment(
        name="jaderberg2015_distorted_mnist",
        claim=(
            "A spatial transformer in front of a CNN lowers the test error on rotated, translated "
            "and scaled (RTS) MNIST at the same parameter count (Table 1: CNN 0.8% vs ST-CNN "
            "0.5%); Table 1 for FCN, CNN, ST-FCN and ST-CNN on R, RTS, P and E."
        ),
        paper=SPATIAL_TRANSFORMER_PAPER,
        config=DistortedMNISTConfig,
        run=main,
        scales={
            "smoke": DistortedMNISTConfig.smoke,
            # RTS only, CNN vs ST-CNN Aff, about three minutes on 2 cores: 20k digits x 6 epochs
            # of batch 64 (1,878 steps), lr / 10 for the last epoch, 2k test digits; the
            # localisation net at 0.3 x the rate with the global gradient norm clipped at 2.
            # Shorter budgets (4.5k-12k digits, 4-5 epochs) let either model win by noise.
            "quick": {
                **_SHORT_SCHEDULE,
                "distortions": ("rts",),
                "models": ("cnn", "st_cnn_aff"),
                "data.source": "auto",
                "data.train_size": 20_000,
                "data.val_size": 500,
                "data.test_size": 2_000,
                "optim.batch_size": 64,
                "optim.epochs": 6,
                "optim.decay_every": 5,
                "optim.grad_clip": 2.0,
                "model.param_budget": 50_000,
                "model.lr_multiplier": 0.3,
            },
            # every model and distortion: 55k digits x 30 epochs, lr / 10 every 10 epochs
            "full": {**_SHORT_SCHEDULE, "optim.epochs": 30, "optim.decay_every": 10},
        },
        cpu_time={"smoke": 12, "quick": 185, "full": 20_000},
        targets=tuple(_TARGETS),
        datasets=(MNIST_DIGITS,),
    )
)
