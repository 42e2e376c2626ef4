"""Interpretability: record the attention of any model, explain its outputs, test the
explanations, and plot the weights.

* :func:`record`: capture the attention of every attnlab attention module inside a model during
  a forward pass (forward hooks; no change to the model), optionally forcing fused calls to
  compute their weights; :func:`convert_torch_attention` makes models built on
  ``torch.nn.MultiheadAttention`` recordable.
* :func:`rollout` and :func:`attention_flow` (Abnar & Zuidema 2020), :func:`relevance`
  (Chefer, Gur & Wolf 2021), and the baselines :func:`gradient_x_input` and
  :func:`random_attribution`.
* :func:`faithfulness`: deletion and insertion curves of a ranking.
* :mod:`attnlab.interpret.viz`: every figure of the package (alignment and head maps, rollout,
  highlighted text as HTML or a figure, sampling grids, SE gates, graph neighbourhoods, pointer
  distributions, result charts); matplotlib is imported only when drawing.
  :mod:`attnlab.interpret.plots` keeps its former names as aliases of the same functions.

Importing this package does not import matplotlib, nor the model zoo (loaded on first use).
"""

from attnlab.interpret.faithfulness import FAITHFULNESS_MODES, FaithfulnessCurve, faithfulness
from attnlab.interpret.record import (
    KINDS,
    AttentionRecord,
    Recording,
    attention_kind,
    record,
)
from attnlab.interpret.relevance import (
    Relevance,
    TokenAttribution,
    gradient_x_input,
    random_attribution,
    relevance,
)
from attnlab.interpret.rollout import HEAD_FUSIONS, attention_flow, mix_attention, rollout
from attnlab.interpret.torch_compat import TorchAttentionAdapter, convert_torch_attention

__all__ = [
    "FAITHFULNESS_MODES",
    "HEAD_FUSIONS",
    "KINDS",
    "AttentionRecord",
    "FaithfulnessCurve",
    "Recording",
    "Relevance",
    "TokenAttribution",
    "TorchAttentionAdapter",
    "attention_flow",
    "attention_kind",
    "convert_torch_attention",
    "faithfulness",
    "gradient_x_input",
    "mix_attention",
    "random_attribution",
    "record",
    "relevance",
    "rollout",
]
