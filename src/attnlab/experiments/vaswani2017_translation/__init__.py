"""``vaswani2017_translation``: a small Transformer against seq2seq with attention on eng-fra.

Vaswani et al., "Attention Is All You Need", https://arxiv.org/abs/1706.03762, sections 3 and 5,
Table 2 (context only). Both models train on the same Tatoeba pairs with the same epochs and batch
size; the claim checked is that the Transformer's test BLEU is at least the baseline's.
"""

from attnlab.data.translation import ENG_FRA_RESOURCE
from attnlab.experiments.registry import DataRequirement, Experiment, register_experiment
from attnlab.experiments.vaswani2017_param_counts import VASWANI_PAPER
from attnlab.experiments.vaswani2017_translation.config import TranslationConfig
from attnlab.experiments.vaswani2017_translation.run import main
from attnlab.report.checks import Target

__all__ = ["EXPERIMENT"]

EXPERIMENT = register_experiment(
    Experiment(
        name="vaswani2017_translation",
        claim=(
            "A small Transformer trained with the paper's recipe reaches at least the BLEU of a "
            "GRU encoder-decoder with additive attention on the same eng-fra (Tatoeba) pairs and "
            "schedule. (The paper's 38.1 EN-FR BLEU is on WMT'14 news and is not comparable.)"
        ),
        paper=VASWANI_PAPER,
        config=TranslationConfig,
        run=main,
        scales={
            "smoke": TranslationConfig.smoke,
            # quick: half-width models, 2 epochs (318 steps each), greedy decoding
            "quick": {
                "epochs": 2,
                "data.min_freq": 3,
                "data.max_test_sentences": 500,
                "transformer.dim": 64,
                "transformer.hidden_dim": 128,
                "transformer.warmup_steps": 200,
                "baseline.embed_dim": 64,
                "baseline.hidden_dim": 64,
            },
            # full: the default sizes, 8 epochs (1,272 steps each), beam 4 (section 6.1)
            "full": {"epochs": 8, "beam_size": 4},
        },
        cpu_time={"smoke": 10, "quick": 60, "full": 600},
        targets=(
            Target(
                "bleu_gap",
                paper=0.0,
                tolerance=0.0,
                direction="higher",
                source=(
                    "claim: Transformer >= seq2seq-attention BLEU on the same data (the paper's "
                    "Table 2 comparison with RNN systems, on WMT)"
                ),
                paper_origin="project",
            ),
        ),
        datasets=(DataRequirement.from_resource(ENG_FRA_RESOURCE, "Tatoeba eng-fra pairs"),),
    )
)
