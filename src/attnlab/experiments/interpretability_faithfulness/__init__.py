"""``interpretability_faithfulness``: does the attention explain the prediction?

Trains HAN (Reuters), the Transformer (eng-fra), the GAT (Cora) and an ST-CNN (RTS MNIST) with
the recipes of their own experiments, explains test predictions by attention, attention
rollout and flow, gradient-weighted relevance, gradient x input and random orders, and scores
every explanation by deletion and insertion curves over several seeds. It reproduces no paper
number: Jain & Wallace (2019) and Wiegreffe & Pinter (2019) disagree on whether attention is
explanation, and the run reports what these models show.
"""

from attnlab.core.registry import Paper
from attnlab.data.planetoid import CORA_RESOURCE
from attnlab.data.reuters import REUTERS_RESOURCE
from attnlab.data.translation import ENG_FRA_RESOURCE
from attnlab.experiments.interpretability_faithfulness.config import FaithfulnessConfig
from attnlab.experiments.interpretability_faithfulness.run import main
from attnlab.experiments.jaderberg2015_distorted_mnist import MNIST_DIGITS
from attnlab.experiments.registry import DataRequirement, Experiment, register_experiment
from attnlab.report.checks import Target

__all__ = ["EXPERIMENT"]

#: (subject, attention method): "attention beats random on deletion AUC" is checked for each.
_CLAIMS: tuple[tuple[str, str, str], ...] = (
    ("han_words", "attention", "HAN word x sentence attention"),
    ("transformer", "cross_attention", "Transformer last-layer cross-attention"),
    ("gat", "attention_layer1", "GAT layer-1 attention"),
    ("stn", "sampling_mass", "ST-CNN sampling-grid mass"),
)

EXPERIMENT = register_experiment(
    Experiment(
        name="interpretability_faithfulness",
        claim=(
            "Reports whether attention explains the prediction: deletion and insertion AUCs "
            "(RISE, Petsiuk et al. 2018) of attention, attention rollout and flow, relevance "
            "(Chefer et al. 2021), gradient x input and random orders on trained HAN, "
            "Transformer, GAT and ST-CNN models, mean +- std over seeds. No paper number is "
            "reproduced (Jain & Wallace 2019 and Wiegreffe & Pinter 2019 disagree); the checks "
            "ask whether each model's attention beats a random order on deletion."
        ),
        paper=Paper(
            title="Attention is not Explanation",
            authors="Jain, Wallace",
            year=2019,
            url="https://arxiv.org/abs/1902.10186",
        ),
        config=FaithfulnessConfig,
        run=main,
        scales={
            "smoke": FaithfulnessConfig.smoke,
            "quick": FaithfulnessConfig.quick,
            "full": {},
        },
        cpu_time={"smoke": 30, "quick": 600, "full": 7200},
        targets=tuple(
            Target(
                f"gap/{subject}/deletion/random_minus_{method}",
                paper=0.0,
                tolerance=0.0,
                direction="higher",
                source=(
                    f"project check: {label} removes the prediction faster than a random "
                    "order (random minus attention deletion AUC > 0, clear of the spread "
                    "over seeds); Jain & Wallace 2019 vs Wiegreffe & Pinter 2019"
                ),
                paper_origin="project",
            )
            for subject, method, label in _CLAIMS
        ),
        datasets=(
            DataRequirement.from_resource(
                REUTERS_RESOURCE, "Reuters-21578 SGML files (ModApte split, top-10 topics)"
            ),
            DataRequirement.from_resource(ENG_FRA_RESOURCE, "Tatoeba eng-fra pairs"),
            DataRequirement.from_resource(
                CORA_RESOURCE, "Cora, Planetoid split files ind.cora.* (2708 nodes)"
            ),
            MNIST_DIGITS,
        ),
    )
)
