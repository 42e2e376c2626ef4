"""``vaswani2017_param_counts``: the parameter column of Table 3 of "Attention Is All You Need".

Vaswani et al., https://arxiv.org/abs/1706.03762, Table 3. No training: exact counts, with the
library's Transformer built on the ``meta`` device as a cross-check. Every target applies at every
scale (the whole table takes about a second).
"""

from attnlab.core.registry import Paper
from attnlab.experiments.registry import Experiment, register_experiment
from attnlab.experiments.vaswani2017_param_counts.config import ParamCountConfig
from attnlab.experiments.vaswani2017_param_counts.run import SAME_WIDTH_ROWS, main
from attnlab.experiments.vaswani2017_param_counts.table import ROWS
from attnlab.report.checks import SCALES, Target

__all__ = ["EXPERIMENT", "TARGETS", "VASWANI_PAPER", "VOCAB_UNCERTAINTY"]

VASWANI_PAPER = Paper(
    title="Attention Is All You Need",
    authors="Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser, Polosukhin",
    year=2017,
    url="https://arxiv.org/abs/1706.03762",
)

#: The paper gives the vocabulary as "about 37000 tokens"; the tolerance of each absolute count
#: allows +-4000 tokens of it (d_model * 4000 parameters) plus the rounding to millions (0.5).
VOCAB_UNCERTAINTY = 4000


def _targets() -> tuple[Target, ...]:
    absolute = [
        Target(
            f"params_M/{r.key}",
            paper=float(r.paper_params_m),
            tolerance=0.5 + r.dim * VOCAB_UNCERTAINTY / 1e6,
            direction="match",
            source=f"Table 3, {r.label} (rounded to millions; vocabulary 'about 37000')",
            scales=SCALES,
        )
        for r in ROWS
    ]
    base = ROWS[0].paper_params_m
    paper = {r.key: r.paper_params_m for r in ROWS}
    relative = [
        Target(
            f"delta_M/{key}",
            paper=float(paper[key] - base),
            tolerance=1.0,
            direction="match",
            source=f"Table 3, {key} minus base (two numbers rounded to millions)",
            scales=SCALES,
            paper_origin="derived",
        )
        for key in SAME_WIDTH_ROWS
    ]
    return (*absolute, *relative)


TARGETS: tuple[Target, ...] = _targets()

EXPERIMENT = register_experiment(
    Experiment(
        name="vaswani2017_param_counts",
        claim=(
            "The Transformer's parameter counts in Table 3 (base 65M, N=2 36M, N=8 80M, "
            "d_model=1024 168M, big 213M, ...) follow from its architecture with a shared "
            "~37k-token vocabulary and tied embeddings."
        ),
        paper=VASWANI_PAPER,
        config=ParamCountConfig,
        run=main,
        scales={"smoke": {}, "quick": {}, "full": {}},
        cpu_time={"smoke": 3, "quick": 3, "full": 3},
        targets=TARGETS,
        datasets=(),
    )
)
