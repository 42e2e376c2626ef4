"""Architectures built from the library's attention mechanisms.

Each model implements one paper from :mod:`attnlab.mechanisms` and :mod:`attnlab.vision` parts
and returns its attention next to its output:

* :class:`Seq2Seq`: RNN encoder-decoder with Bahdanau or Luong attention (global or local),
  teacher forcing, greedy and beam search; per-step alignment matrices.
* :class:`PointerNetwork`: attention as the output distribution (Vinyals et al. 2015).
* :class:`MemN2N`: end-to-end memory network, per-hop weights (Sukhbaatar et al. 2015).
* :class:`Transformer` (and encoder-only / decoder-only): per-layer, per-head weights and an
  incremental key/value cache (Vaswani et al. 2017).
* :class:`GAT`: graph attention on an edge list or a dense adjacency, edge coefficients
  (Velickovic et al. 2018); its layer :class:`~attnlab.mechanisms.GraphAttention` is
  re-exported here.
* :class:`HierarchicalAttentionNetwork`: word and sentence attention for documents (Yang et al.
  2016), with the flat baseline :class:`FlatAttentionNetwork`.
* :class:`CoAttentionVQA`: question-image co-attention (Lu et al. 2016), with the
  :class:`NoAttentionVQA` baseline.
* :class:`SpatialTransformerClassifier`: spatial transformer(s) in front of an FCN or CNN, the
  models of Table 1 of Jaderberg et al. 2015, built to a parameter budget by
  :func:`attnlab.architectures.stn_classifiers.build_model`.
"""

from attnlab.architectures.coattention_vqa import (
    CoAttentionVQA,
    CoAttentionVQAOutput,
    NoAttentionVQA,
    NoAttentionVQAOutput,
)
from attnlab.architectures.gat import GAT, GATOutput, GraphAttention, GraphAttentionOutput
from attnlab.architectures.han import (
    FlatAttentionNetwork,
    FlatAttentionOutput,
    HANOutput,
    HierarchicalAttentionNetwork,
)
from attnlab.architectures.memn2n import MemN2N, MemN2NOutput
from attnlab.architectures.pointer import PointerNetwork, PointerOutput
from attnlab.architectures.seq2seq import DecodeOutput, Seq2Seq, Seq2SeqOutput
from attnlab.architectures.stn_classifiers import (
    SpatialTransformerClassifier,
    SpatialTransformerClassifierOutput,
)
from attnlab.architectures.transformer import (
    DecoderOnlyTransformer,
    EncoderOnlyTransformer,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    TransformerOutput,
)

__all__ = [
    "GAT",
    "CoAttentionVQA",
    "CoAttentionVQAOutput",
    "DecodeOutput",
    "DecoderOnlyTransformer",
    "EncoderOnlyTransformer",
    "FlatAttentionNetwork",
    "FlatAttentionOutput",
    "GATOutput",
    "GraphAttention",
    "GraphAttentionOutput",
    "HANOutput",
    "HierarchicalAttentionNetwork",
    "MemN2N",
    "MemN2NOutput",
    "NoAttentionVQA",
    "NoAttentionVQAOutput",
    "PointerNetwork",
    "PointerOutput",
    "Seq2Seq",
    "Seq2SeqOutput",
    "SpatialTransformerClassifier",
    "SpatialTransformerClassifierOutput",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "TransformerOutput",
]
