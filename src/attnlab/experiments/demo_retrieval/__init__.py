"""``demo_retrieval``: additive attention learns key-value retrieval and attends to the right pair.

The example experiment of the framework: generated data, trains in seconds, and every part of a
run (config, scales, targets, learning curves, an attention plot, the report) is exercised.
"""

from attnlab.core.registry import Paper
from attnlab.experiments.demo_retrieval.config import RetrievalConfig
from attnlab.experiments.demo_retrieval.run import main
from attnlab.experiments.registry import Experiment, register_experiment
from attnlab.report.checks import Target

__all__ = ["EXPERIMENT"]

EXPERIMENT = register_experiment(
    Experiment(
        name="demo_retrieval",
        claim=(
            "Additive attention solves key-value retrieval (> 95% held-out accuracy, chance 10%) "
            "and puts > 80% of its weight on the pair holding the query key."
        ),
        paper=Paper(
            title="Neural Machine Translation by Jointly Learning to Align and Translate",
            authors="Bahdanau, Cho, Bengio",
            year=2015,
            url="https://arxiv.org/abs/1409.0473",
        ),
        config=RetrievalConfig,
        run=main,
        scales={
            "smoke": RetrievalConfig.smoke,
            "quick": {"steps": 200},
            "full": {},
        },
        cpu_time={"smoke": 3, "quick": 8, "full": 15},
        targets=(
            Target(
                "test_accuracy",
                paper=0.95,
                tolerance=0.0,
                direction="higher",
                source="claim of this demo (no paper table)",
                paper_origin="project",
            ),
            Target(
                "test_attention_on_target",
                paper=0.80,
                tolerance=0.0,
                direction="higher",
                source="claim of this demo (no paper table)",
                paper_origin="project",
            ),
        ),
        datasets=(),
    )
)
