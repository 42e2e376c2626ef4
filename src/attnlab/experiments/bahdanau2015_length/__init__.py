"""``bahdanau2015_length``: attention keeps an encoder-decoder accurate as the source grows.

Bahdanau, Cho, Bengio (2015): the basic encoder-decoder (RNNencdec) squeezes the source into one
vector and its BLEU falls with sentence length; RNNsearch's attention does not (Fig. 2).
"""

from attnlab.core.registry import Paper
from attnlab.data.translation import ENG_FRA_RESOURCE
from attnlab.experiments.bahdanau2015_length.config import LengthConfig
from attnlab.experiments.bahdanau2015_length.run import main
from attnlab.experiments.registry import DataRequirement, Experiment, register_experiment
from attnlab.report.checks import Target

__all__ = ["EXPERIMENT"]

_REIMPL = (
    "REPRODUCTIONS D.1: a reimplementer's toy reverse task, RNNencdec 59.1% vs RNNsearch 100% "
    "at length 16 (not a paper number)"
)

EXPERIMENT = register_experiment(
    Experiment(
        name="bahdanau2015_length",
        claim=(
            "Without attention an encoder-decoder's accuracy falls as the source grows; with "
            "attention it falls much less (reverse task: attention's exact-match accuracy on the "
            "longest sources exceeds the no-attention model's by > 20 points)."
        ),
        paper=Paper(
            title="Neural Machine Translation by Jointly Learning to Align and Translate",
            authors="Bahdanau, Cho, Bengio",
            year=2015,
            url="https://arxiv.org/abs/1409.0473",
        ),
        config=LengthConfig,
        run=main,
        scales={
            "smoke": LengthConfig.smoke,
            "quick": {
                "model.embed_dim": 32,
                "translation.enabled": False,
            },
            "full": {},
        },
        cpu_time={"smoke": 8, "quick": 60, "full": 400},
        targets=(
            Target(
                "reverse/attention_minus_no_attention/seq_acc_longest",
                paper=0.409,
                tolerance=0.209,
                direction="higher",
                source=_REIMPL,
                paper_origin="project",
            ),
            Target(
                "reverse/attention/seq_acc_longest",
                paper=1.0,
                tolerance=0.4,
                direction="higher",
                source=_REIMPL,
                paper_origin="project",
            ),
        ),
        datasets=(
            DataRequirement.from_resource(
                ENG_FRA_RESOURCE,
                "Tatoeba English-French pairs (ManyThings fra-eng 2017-09-29)",
                fallback="the generated reverse task only (no eng-fra BLEU curve)",
                used_metric="eng_fra/used",
            ),
        ),
    )
)
