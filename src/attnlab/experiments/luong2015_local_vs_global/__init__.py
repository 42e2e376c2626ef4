"""``luong2015_local_vs_global``: global (dot / general / concat) vs local-m / local-p attention.

Luong, Pham, Manning (2015), Table 4: with the same LSTM encoder-decoder, dot is the best global
score, general the best local one, concat is poor; local-p(general) is the best overall.
"""

from attnlab.core.registry import Paper
from attnlab.experiments.luong2015_local_vs_global.config import LocalGlobalConfig
from attnlab.experiments.luong2015_local_vs_global.run import main
from attnlab.experiments.registry import Experiment, register_experiment
from attnlab.report.checks import Target

__all__ = ["EXPERIMENT"]

EXPERIMENT = register_experiment(
    Experiment(
        name="luong2015_local_vs_global",
        claim=(
            "Every attention variant of Luong et al. trains in the same encoder-decoder; on the "
            "reverse task global attention (general score) reaches > 50% exact match. The "
            "ordering of the variants is reported next to Luong Table 4's (dot best global, "
            "general best local, concat poor) without being assumed."
        ),
        paper=Paper(
            title="Effective Approaches to Attention-based Neural Machine Translation",
            authors="Luong, Pham, Manning",
            year=2015,
            url="https://arxiv.org/abs/1508.04025",
        ),
        config=LocalGlobalConfig,
        run=main,
        scales={
            "smoke": LocalGlobalConfig.smoke,
            "quick": {
                "variants": (
                    "global_dot",
                    "global_general",
                    "global_concat",
                    "local_m_general",
                    "local_p_general",
                ),
                "max_length": 12,
                "optim.epochs": 2,
            },
            "full": {},
        },
        cpu_time={"smoke": 6, "quick": 60, "full": 120},
        targets=(
            Target(
                "global_general/seq_acc",
                paper=1.0,
                tolerance=0.5,
                direction="higher",
                source="claim of this experiment on reverse (Luong Table 4 is WMT ppl/BLEU)",
                paper_origin="project",
            ),
        ),
        datasets=(),
    )
)
