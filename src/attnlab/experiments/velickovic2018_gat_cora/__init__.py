"""``velickovic2018_gat_cora``: a two-layer GAT reaches 83.0 +- 0.7% test accuracy on Cora.

Velickovic et al., "Graph Attention Networks", ICLR 2018 (Table 2, transductive), on the
Planetoid split of Cora, with the paper's configuration and early stopping; the mean and
standard deviation over independent seeds are reported, with attention entropy and
neighbourhood plots.
"""

from attnlab.core.registry import Paper
from attnlab.data.planetoid import CORA_RESOURCE
from attnlab.experiments.registry import DataRequirement, Experiment, register_experiment
from attnlab.experiments.velickovic2018_gat_cora.config import GATCoraConfig
from attnlab.experiments.velickovic2018_gat_cora.run import main
from attnlab.report.checks import Target

__all__ = ["EXPERIMENT"]

EXPERIMENT = register_experiment(
    Experiment(
        name="velickovic2018_gat_cora",
        claim=(
            "A two-layer graph attention network (8 heads x 8 features, ELU, dropout 0.6, "
            "L2 5e-4, Adam 0.005, patience 100) reaches 83.0 +- 0.7% mean test accuracy on the "
            "Planetoid split of Cora (Table 2, mean +- std over 100 runs)."
        ),
        paper=Paper(
            title="Graph Attention Networks",
            authors="Velickovic, Cucurull, Casanova, Romero, Lio, Bengio",
            year=2018,
            url="https://arxiv.org/abs/1710.10903",
        ),
        config=GATCoraConfig,
        run=main,
        scales={
            "smoke": GATCoraConfig.smoke,
            "quick": {"seeds": 3},
            "full": {"seeds": 20},
        },
        cpu_time={"smoke": 10, "quick": 60, "full": 420},
        targets=(
            Target(
                "test_accuracy_mean",
                paper=83.0,
                tolerance=1.5,
                direction="higher",
                source="Table 2, GAT on Cora: 83.0 +- 0.7 (mean +- std over 100 runs)",
            ),
        ),
        datasets=(
            DataRequirement.from_resource(
                CORA_RESOURCE, "Cora, Planetoid split files ind.cora.* (2708 nodes)"
            ),
        ),
    )
)
