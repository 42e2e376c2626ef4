"""Configuration of the ``interpretability_faithfulness`` experiment.

Four small models are trained with the recipes of the experiments they come from (each nested
config below *is* that experiment's config, so a dotted override such as
``han.optim.epochs=2`` reaches the same field), then their explanations are scored by deletion
and insertion curves (Petsiuk, Das & Saenko, "RISE", https://arxiv.org/abs/1806.07421,
section 4.1):

* HAN on Reuters ModApte top-10 (:mod:`attnlab.experiments.yang2016_han_reuters`);
* the Transformer on eng-fra (:mod:`attnlab.experiments.vaswani2017_translation`);
* the GAT on Cora (:mod:`attnlab.experiments.velickovic2018_gat_cora`);
* the ST-CNN (affine) on RTS MNIST (:mod:`attnlab.experiments.jaderberg2015_distorted_mnist`).

No paper number is reproduced: the run reports which explanations are faithful (the
disagreement of Jain & Wallace 2019, https://arxiv.org/abs/1902.10186, and Wiegreffe & Pinter
2019, https://arxiv.org/abs/1908.04626).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from attnlab.experiments.jaderberg2015_distorted_mnist.config import (
    DataConfig as STNDataConfig,
)
from attnlab.experiments.jaderberg2015_distorted_mnist.config import (
    DistortedMNISTConfig,
)
from attnlab.experiments.jaderberg2015_distorted_mnist.config import (
    ModelConfig as STNModelConfig,
)
from attnlab.experiments.jaderberg2015_distorted_mnist.config import (
    OptimConfig as STNOptimConfig,
)
from attnlab.experiments.vaswani2017_translation.config import (
    DataConfig as TranslationDataConfig,
)
from attnlab.experiments.vaswani2017_translation.config import (
    TransformerConfig,
    TranslationConfig,
)
from attnlab.experiments.velickovic2018_gat_cora.config import GATCoraConfig
from attnlab.experiments.yang2016_han_reuters.config import (
    DataConfig as HANDataConfig,
)
from attnlab.experiments.yang2016_han_reuters.config import (
    HANReutersConfig,
)
from attnlab.experiments.yang2016_han_reuters.config import (
    ModelConfig as HANModelConfig,
)
from attnlab.experiments.yang2016_han_reuters.config import (
    OptimConfig as HANOptimConfig,
)

__all__ = ["FAITHFULNESS_MODELS", "FaithfulnessConfig"]

#: The models the experiment can explain, in table order.
FAITHFULNESS_MODELS: tuple[str, ...] = ("han", "transformer", "gat", "stn")


@dataclass(frozen=True)
class FaithfulnessConfig:
    """Which models, how many seeds and examples, and each model's training recipe."""

    models: tuple[str, ...] = FAITHFULNESS_MODELS  # subset of FAITHFULNESS_MODELS
    seeds: int = 5  # independent trainings per model (the table gives mean +- std over them)
    steps: int = 10  # deletion / insertion steps: round(k n / steps) positions at step k
    explained: int = 200  # test examples explained per model and seed (documents, sentences,
    # graph nodes, images)
    explained_sentences: int = 100  # Transformer: every target token of this many sentences
    max_gat_degree: int = 20  # GAT: explained test nodes have 2..max_gat_degree neighbours
    han: HANReutersConfig = field(default_factory=HANReutersConfig)
    transformer: TranslationConfig = field(default_factory=TranslationConfig)
    gat: GATCoraConfig = field(default_factory=GATCoraConfig)
    stn: DistortedMNISTConfig = field(
        default_factory=lambda: DistortedMNISTConfig(
            distortions=("rts",),
            models=("st_cnn_aff",),
            data=STNDataConfig(source="auto", train_size=20_000, val_size=0, test_size=2_000),
            model=STNModelConfig(param_budget=50_000, lr_multiplier=0.3),
            # the shortened schedule of the distorted-MNIST experiment's quick scale
            optim=STNOptimConfig(epochs=6, batch_size=64, lr=0.05, momentum=0.9,
                                 decay_every=5, grad_clip=2.0),
        )
    )

    def __post_init__(self) -> None:
        if not self.models or any(m not in FAITHFULNESS_MODELS for m in self.models):
            raise ValueError(
                f"models must be a non-empty subset of {FAITHFULNESS_MODELS}, got {self.models}"
            )
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models must not repeat an entry, got {self.models}")
        for name in ("seeds", "steps", "explained", "explained_sentences"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_gat_degree < 2:
            raise ValueError(f"max_gat_degree must be >= 2, got {self.max_gat_degree}")
        if self.stn.models != ("st_cnn_aff",) or len(self.stn.distortions) != 1:
            raise ValueError(
                "stn.models must be ('st_cnn_aff',) and stn.distortions one kind: the "
                "experiment explains one spatial-transformer classifier"
            )

    @classmethod
    def smoke(cls) -> FaithfulnessConfig:
        """Two seeds of tiny models on small samples, few examples: seconds."""
        han = HANReutersConfig.smoke()
        return cls(
            seeds=2,
            steps=4,
            explained=8,
            explained_sentences=4,
            han=replace(han, data=replace(han.data, train_size=200, test_size=40)),
            transformer=TranslationConfig.smoke(),
            gat=GATCoraConfig.smoke(),
            stn=replace(
                cls().stn,
                data=STNDataConfig(source="auto", train_size=64, val_size=0, test_size=16),
                model=STNModelConfig(param_budget=30_000, lr_multiplier=0.3),
                optim=STNOptimConfig(epochs=1, batch_size=32, lr=0.05, momentum=0.9,
                                     decay_every=1),
            ),
        )

    @classmethod
    def quick(cls) -> FaithfulnessConfig:
        """Three seeds of the source experiments' quick-sized models, shortened: ~10 minutes
        on one thread."""
        return cls(
            seeds=3,
            explained=100,
            explained_sentences=30,
            han=HANReutersConfig(
                data=HANDataConfig(train_size=1500, test_size=300, max_sentences=6,
                                   max_words=20),
                model=HANModelConfig(embed_dim=64, hidden_dim=32, attention_dim=64),
                optim=HANOptimConfig(epochs=4),
            ),
            transformer=TranslationConfig(
                epochs=2,
                data=TranslationDataConfig(min_freq=3, max_test_sentences=100),
                transformer=TransformerConfig(dim=64, hidden_dim=128, warmup_steps=200),
            ),
            gat=GATCoraConfig(seeds=1, max_epochs=300),
            stn=replace(
                cls().stn,
                data=STNDataConfig(source="auto", train_size=6_000, val_size=0, test_size=500),
                optim=replace(cls().stn.optim, epochs=3, decay_every=2),
            ),
        )
