"""``vinyals2015_pointer``: Ptr-Net vs seq2seq with attention on convex hulls and sorting.

Vinyals, Fortunato, Jaitly, "Pointer Networks", https://arxiv.org/abs/1506.03134 (section 4):
a pointer network, whose output distribution is the attention over its inputs, beats an
encoder-decoder with attention and a fixed output dictionary, and generalises to inputs larger
than those seen in training. The paper's table values are not available here, so the targets
are the qualitative claim, expressed as differences between the two models.
"""

from attnlab.core.registry import Paper
from attnlab.experiments.registry import Experiment, register_experiment
from attnlab.experiments.vinyals2015_pointer.config import PointerConfig
from attnlab.experiments.vinyals2015_pointer.run import main
from attnlab.report.checks import Target

__all__ = ["EXPERIMENT"]

_SOURCE = "qualitative claim, §4 (paper numbers not available here); the 0.05 margin is ours"
_GENERALISES = (
    "qualitative claim, §4.2: Ptr-Net generalises beyond the training n (paper numbers not "
    "available here); the 0.8 threshold is ours"
)

# CPU schedules (README): narrow LSTMs with an embedding, Adam, n = 5..10 in training.
_CPU = {
    "model.init_range": None,
    "optim.optimizer": "adam",
    "data.train_min_n": 5,
    "data.train_max_n": 10,
}

EXPERIMENT = register_experiment(
    Experiment(
        name="vinyals2015_pointer",
        claim=(
            "A pointer network beats seq2seq with attention on convex hull and sorting, and "
            "generalises to inputs larger than the training n (qualitative claim of §4)."
        ),
        paper=Paper(
            title="Pointer Networks",
            authors="Vinyals, Fortunato, Jaitly",
            year=2015,
            url="https://arxiv.org/abs/1506.03134",
        ),
        config=PointerConfig,
        run=main,
        scales={
            "smoke": PointerConfig.smoke,
            "quick": {
                **_CPU,
                "model.hidden_dim": 64,
                "model.embedding_dim": 32,
                "optim.lr": 3e-3,
                "optim.epochs": 6,
                "optim.sort_epochs": 3,
                "data.train_size": 12_800,
                "data.val_size": 200,
                "data.test_size": 200,
                "data.test_n": (5, 10, 15, 20),
            },
            "full": {
                **_CPU,
                "model.hidden_dim": 128,
                "model.embedding_dim": 64,
                "optim.lr": 2e-3,
                "optim.epochs": 12,
                "optim.sort_epochs": 5,
                "data.train_size": 20_000,
                "data.val_size": 500,
                "data.test_size": 500,
                "data.test_n": (5, 10, 15, 20, 25),
            },
        },
        cpu_time={"smoke": 6, "quick": 60, "full": 900},
        targets=(
            # the pointer network ahead of seq2seq by 5 points, in and beyond the training range
            *(
                Target(metric, paper=0.05, tolerance=0.0, direction="higher", source=_SOURCE,
                       paper_origin="project")
                for metric in (
                    "convex_hull/ptr_minus_seq2seq/accuracy_in_range",
                    "convex_hull/ptr_minus_seq2seq/area_coverage_beyond",
                    "sort/ptr_minus_seq2seq/accuracy_in_range",
                    "sort/ptr_minus_seq2seq/accuracy_beyond",
                )
            ),
            Target(
                "convex_hull/ptr_net/area_coverage_beyond",
                paper=0.8, tolerance=0.0, direction="higher", source=_GENERALISES,
                paper_origin="project",
            ),
        ),
        datasets=(),
    )
)
