"""Run ``interpretability_faithfulness``: deletion and insertion AUCs of explanations of four
trained attention models, over several seeds.

For each seed every model is trained with the recipe of the experiment it comes from (imported
from there: data preparation, model builders, training loops), then a fixed set of test examples
is explained and each explanation's ranking of the inputs is scored by
:func:`attnlab.interpret.faithfulness` (deletion: remove inputs most-important first and follow
the probability of the explained output, *low* area = faithful; insertion: start from all
inputs removed and put them back, *high* area = faithful). The explained output is the model's
own prediction (the Transformer: the reference token under teacher forcing).

What is ranked, removed, and by which method (``subject / method``):

* ``han_words``: the words of a document (all sentences). ``attention``: word weight times
  its sentence's weight (``alpha_it alpha_i``, the mass the document vector puts on the word);
  ``gradient_x_input`` on the word embeddings; ``random``. Removed words become ``<unk>``.
* ``han_sentences``: the sentences. ``attention``: sentence weight ``alpha_i``;
  ``gradient_x_input`` summed over the sentence's words; ``random``. A removed sentence's
  words all become ``<unk>``.
* ``transformer``: the source tokens (EOS excluded) for one target token, the decoder fed the
  reference prefix. ``cross_attention``: last decoder layer's encoder-decoder attention of the
  explained position, mean over heads; ``rollout``: that row times the rollout of the encoder
  self-attention (Abnar & Zuidema 2020; every encoder layer, mean over heads, ``0.5 A + 0.5 I``
  row-normalised), i.e. ``sum_k C[p, k] R_enc[k, j]`` (the cross-attention row re-distributed
  from encoder outputs to input tokens); ``flow``: the same with the encoder's attention flow
  in place of its rollout; ``relevance`` (Chefer et al. 2021, all layers); ``gradient_x_input``
  on the source embeddings; ``random``. Removed tokens become ``<unk>`` (still attended to).
* ``gat``: a test node's distinct neighbours (2 to ``max_gat_degree`` of them).
  ``attention_layer1``: layer-1 coefficient of the edge neighbour -> node, mean over heads;
  ``attention_layer2``: the output layer's; ``rollout``: ``(A_2 A_1)[node, neighbour]``
  (self-loops act as the residual); ``gradient_x_input`` on the neighbour's input features,
  summed; ``random``. Removing a neighbour deletes its edges into the node in both layers (it
  may still reach the node through a shared neighbour). Each node is evaluated on a copy of its
  two-hop computation graph, which gives exactly its full-graph output.
* ``stn``: the input pixels of the ST-CNN (affine). ``sampling_mass``: the bilinear weight the
  transformer's grid puts on each pixel (0 outside the sampled region); ``gradient_x_input``
  on the pixels; ``random``. Removed pixels are set to the background, 0.

Metrics: ``auc/<subject>/<method>/<mode>`` (mean over seeds of the mean over examples) and
``..._std`` (sample standard deviation over seeds); ``gap/<subject>/deletion/random_minus_
<method>`` and ``gap/<subject>/insertion/<method>_minus_random`` (positive: the method beats
random), each with ``_std`` over seeds (of the paired per-seed differences); per-model quality
``quality/...``; the STN's probability with only the pixels inside (outside) the sampled region
kept; ``seeds``.
"""

from __future__ import annotations

import functools
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from attnlab.architectures.gat import GAT, to_sparse_features
from attnlab.architectures.transformer import Transformer
from attnlab.data.planetoid import load_cora
from attnlab.data.translation import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from attnlab.experiments._stn_common import build_sized_model, make_splits, train_and_test
from attnlab.experiments.context import RunContext
from attnlab.experiments.interpretability_faithfulness.config import FaithfulnessConfig
from attnlab.experiments.interpretability_faithfulness.rankings import (
    NeighbourBatch,
    drop_neighbour_edges,
    embedding_gradient_x_input,
    gat_rollout_scores,
    neighbour_subgraphs,
    sampling_mass,
)
from attnlab.experiments.vaswani2017_translation.run import (
    TransformerTranslator,
    WarmupInverseSqrt,
    build_models,
    smoothed_cross_entropy,
)
from attnlab.experiments.vaswani2017_translation.run import (
    prepare_data as prepare_translation,
)
from attnlab.experiments.velickovic2018_gat_cora.run import train_one_seed
from attnlab.experiments.yang2016_han_reuters.run import (
    BatchedDocuments,
    LengthBucketedBatches,
    _train_config,
    batch_cross_entropy,
    build_model,
)
from attnlab.experiments.yang2016_han_reuters.run import (
    prepare_data as prepare_reuters,
)
from attnlab.interpret import (
    FAITHFULNESS_MODES,
    attention_flow,
    faithfulness,
    gradient_x_input,
    relevance,
    rollout,
)
from attnlab.train import TrainConfig, derive_seed, fit

__all__ = [
    "ATTENTION_METHOD",
    "METHODS",
    "SUBJECTS",
    "Subject",
    "explained_nodes",
    "faithfulness_table",
    "logits_at",
    "main",
    "score_subject",
]

#: What each subject ranks by, in table order (``random`` last: the baseline).
METHODS: dict[str, tuple[str, ...]] = {
    "han_words": ("attention", "gradient_x_input", "random"),
    "han_sentences": ("attention", "gradient_x_input", "random"),
    "transformer": ("cross_attention", "rollout", "flow", "relevance", "gradient_x_input",
                    "random"),
    "gat": ("attention_layer1", "attention_layer2", "rollout", "gradient_x_input", "random"),
    "stn": ("sampling_mass", "gradient_x_input", "random"),
}
SUBJECTS: tuple[str, ...] = tuple(METHODS)

#: The plain attention method of each subject (the one the targets compare with random).
ATTENTION_METHOD: dict[str, str] = {
    "han_words": "attention",
    "han_sentences": "attention",
    "transformer": "cross_attention",
    "gat": "attention_layer1",
    "stn": "sampling_mass",
}

_SUBJECTS_OF_MODEL = {"han": ("han_words", "han_sentences"), "transformer": ("transformer",),
                      "gat": ("gat",), "stn": ("stn",)}


@dataclass
class Subject:
    """One set of explained examples: what :func:`attnlab.interpret.faithfulness` needs.

    Attributes:
        predict: inputs shaped like ``inputs`` -> ``(B,)`` probability of the explained output.
        inputs: ``(B, L, ...)``, the positions on dimension 1.
        rankings: method -> ``(B, L)`` scores (higher = more important).
        baseline: what a removed position holds.
        mask: ``(B, L)`` ``True`` at the positions that are ranked and removed.
    """

    predict: Callable[[Tensor], Tensor]
    inputs: Tensor
    rankings: dict[str, Tensor]
    baseline: float
    mask: Tensor


def score_subject(subject: Subject, steps: int) -> dict[str, dict[str, tuple[float, Tensor]]]:
    """Deletion and insertion of every ranking of ``subject``.

    Returns:
        method -> mode -> ``(mean AUC over the examples, mean curve (steps + 1,))``.
    """
    scores: dict[str, dict[str, tuple[float, Tensor]]] = {}
    for method, ranking in subject.rankings.items():
        scores[method] = {}
        for mode in FAITHFULNESS_MODES:
            curve = faithfulness(subject.predict, subject.inputs, ranking, steps=steps,
                                 mode=mode, baseline=subject.baseline, mask=subject.mask)
            scores[method][mode] = (float(curve.auc.mean()), curve.curve.mean(0))
    return scores


def _random(shape: tuple[int, ...], seed: int) -> Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _seed_ctx(ctx: RunContext, seed: int) -> RunContext:
    return replace(ctx, seed=seed)


# --- HAN on Reuters ---------------------------------------------------------------------------


def _han(config: FaithfulnessConfig, ctx: RunContext, data: Any, k: int, seed: int
         ) -> tuple[dict[str, Subject], dict[str, float], dict[str, Any]]:
    train, val, test, vocab = data
    han = config.han
    torch.manual_seed(derive_seed(seed, 1))
    model = build_model("han", len(vocab), han.model)
    batch = han.optim.batch_size
    sets = [LengthBucketedBatches(s.tokens, s.mask, s.labels, batch_size=batch)
            for s in (train, val)]
    fit(BatchedDocuments(model), sets[0], sets[1], config=_train_config(han, _seed_ctx(ctx, seed)),
        loss_fn=batch_cross_entropy, run_dir=ctx.checkpoint_dir / f"han_seed{k}",
        resume=ctx.resume, progress=ctx.progress)
    model.to(ctx.device).eval()
    tokens, mask = test.tokens.to(ctx.device), test.mask.to(ctx.device)
    with torch.no_grad():
        predicted = torch.cat([model(tokens[i : i + 256], mask[i : i + 256]).logits.argmax(-1)
                               for i in range(0, tokens.shape[0], 256)])
    accuracy = 100.0 * float((predicted.cpu() == test.labels).float().mean())
    n = min(config.explained, tokens.shape[0])
    tokens, mask, label = tokens[:n], mask[:n], predicted[:n]
    rows = torch.arange(n, device=tokens.device)
    batch_size, sentences, words = tokens.shape
    with torch.no_grad():
        out = model(tokens, mask)
    attention = out.word_weights * out.weights.unsqueeze(-1)  # (b, s, w)
    embedding = model.embedding
    assert isinstance(embedding, torch.nn.Module)
    gxi = embedding_gradient_x_input(lambda: model(tokens, mask).logits, embedding, label)
    unk = vocab.unk_index

    def predict_words(x: Tensor) -> Tensor:
        return model(x.view(batch_size, sentences, words), mask).logits.softmax(-1)[rows, label]

    def predict_sentences(x: Tensor) -> Tensor:
        return model(x, mask).logits.softmax(-1)[rows, label]

    word_subject = Subject(
        predict_words, tokens.flatten(1),
        {"attention": attention.flatten(1), "gradient_x_input": gxi.flatten(1),
         "random": _random((n, sentences * words), derive_seed(seed, 11))},
        float(unk), mask.flatten(1),
    )
    sentence_subject = Subject(
        predict_sentences, tokens,
        {"attention": out.weights, "gradient_x_input": (gxi * mask).sum(-1),
         "random": _random((n, sentences), derive_seed(seed, 12))},
        float(unk), mask.any(-1),
    )
    example: dict[str, Any] = {}
    if k == 0:
        i = _han_example(mask)
        length = mask[i].sum(-1).tolist()
        example = {
            "words": [s[: length[j]] for j, s in enumerate(test.tokenized[i][:sentences])
                      if length[j] > 0],
            "label": int(label[i]),
            "sentence_attention": out.weights[i].tolist(),
            "attention": [attention[i, j, : length[j]].tolist()
                          for j in range(sentences) if length[j] > 0],
            "gradient_x_input": [gxi[i, j, : length[j]].tolist()
                                 for j in range(sentences) if length[j] > 0],
        }
    return ({"han_words": word_subject, "han_sentences": sentence_subject},
            {"quality/han/test_accuracy_pct": accuracy}, example)


def _han_example(mask: Tensor) -> int:
    sentences = mask.any(-1).sum(-1)
    good = torch.nonzero((sentences >= 3) & (sentences <= 5)).flatten()
    return int(good[0]) if good.numel() else 0


# --- Transformer on eng-fra -------------------------------------------------------------------


def logits_at(model: Transformer, src: Tensor, tgt: Tensor, positions: Tensor) -> Tensor:
    """Teacher-forced logits of one decoder position per row, ``(B, V)``: the model's forward
    pass (padding masked on both sides, as :meth:`Transformer.forward` does by default) with
    the output projection applied at ``positions`` only (the projection onto the vocabulary
    is most of the cost of a small model's forward pass).

    Shape:
        src ``(B, Ls)``, tgt ``(B, Lt)``, positions ``(B,)`` -> ``(B, V)``.
    """
    memory = model.encode(src, need_weights=False).context
    x = model.positions(model.tgt_embedding(tgt))
    out = model.decoder(x, memory, mask=tgt != PAD_ID, memory_mask=src != PAD_ID,
                        need_weights=False)
    rows = torch.arange(src.shape[0], device=src.device)
    return model.project(out.context[rows, positions])


def _transformer(config: FaithfulnessConfig, ctx: RunContext, splits: Any, k: int, seed: int
                 ) -> tuple[dict[str, Subject], dict[str, float], dict[str, Any]]:
    tc = config.transformer
    t = tc.transformer
    device = ctx.device
    torch.manual_seed(seed)
    model, _ = build_models(tc, len(splits.vocab), device)
    result = fit(
        TransformerTranslator(model), splits.train, splits.valid,
        config=TrainConfig(lr=1.0, betas=(t.beta1, t.beta2), eps=t.eps, epochs=tc.epochs,
                           batch_size=tc.batch_size, optimizer="adam", seed=seed,
                           device=str(device), max_steps_per_epoch=tc.max_steps_per_epoch or None),
        loss_fn=functools.partial(smoothed_cross_entropy, smoothing=t.label_smoothing),
        run_dir=ctx.checkpoint_dir / f"transformer_seed{k}", resume=ctx.resume,
        progress=ctx.progress,
        callbacks=(WarmupInverseSqrt(dim=t.dim, warmup_steps=t.warmup_steps, scale=t.lr_scale,
                                     name=f"transformer/seed{k}/lr"),),
    )
    model.eval()
    vocab = splits.vocab
    sentences = splits.test_sources[: config.explained_sentences]
    references = [group[0] for group in splits.test_references[: config.explained_sentences]]
    src_ids = [[*vocab.encode(s), EOS_ID] for s in sentences]
    ref_ids = [vocab.encode(r) for r in references]
    ls, lt = max(map(len, src_ids)), max(map(len, ref_ids)) + 1
    src = torch.full((len(src_ids), ls), PAD_ID, dtype=torch.long)
    tgt = torch.full((len(src_ids), lt), PAD_ID, dtype=torch.long)
    for i, (s, r) in enumerate(zip(src_ids, ref_ids, strict=True)):
        src[i, : len(s)] = torch.tensor(s)
        tgt[i, : len(r) + 1] = torch.tensor([BOS_ID, *r])
    # one row per (sentence, target position): the explained token is the reference's next
    owner = [i for i, r in enumerate(ref_ids) for _ in range(len(r) + 1)]
    positions = torch.tensor([p for r in ref_ids for p in range(len(r) + 1)])
    tokens = torch.tensor([[*r, EOS_ID][p] for r in ref_ids for p in range(len(r) + 1)])
    index = torch.tensor(owner)
    src, tgt = src.to(device), tgt.to(device)
    positions, tokens, index = positions.to(device), tokens.to(device), index.to(device)
    src_rows, tgt_rows = src[index], tgt[index]
    rows = torch.arange(index.numel(), device=device)
    valid = src_rows != PAD_ID
    mask = valid & (src_rows != EOS_ID)

    def predict(x: Tensor) -> Tensor:
        return logits_at(model, x, tgt_rows, positions).softmax(-1)[rows, tokens]

    with torch.no_grad():
        out = model(src, tgt)
        assert out.cross_weights is not None and out.encoder_weights is not None
        cross = out.cross_weights[:, -1].mean(1)[index, positions]  # (r, ls)
        encoder = out.encoder_weights  # (n, layers, h, ls, ls)
        enc_valid = src != PAD_ID
        enc_rollout = rollout(encoder, mask=enc_valid)[index]  # (r, ls, ls)
        enc_flow = attention_flow(encoder, mask=enc_valid)[index].to(cross.dtype)
        probability = predict(src_rows)
    rankings: dict[str, Tensor] = {
        "cross_attention": cross,
        "rollout": torch.einsum("rk,rkj->rj", cross, enc_rollout),
        "flow": torch.einsum("rk,rkj->rj", cross, enc_flow),
        "relevance": torch.zeros_like(cross),
        "gradient_x_input": torch.zeros_like(cross),
        "random": _random(tuple(cross.shape), derive_seed(seed, 13)),
    }
    for p in positions.unique().tolist():
        at = torch.nonzero(positions == p).flatten()
        inputs = (src_rows[at], tgt_rows[at, : p + 1])
        rel = relevance(model, inputs, tokens[at], position=p).source
        gxi = gradient_x_input(model, inputs, tokens[at], position=p).source
        assert rel is not None and gxi is not None
        rankings["relevance"][at] = rel.to(cross.dtype)
        rankings["gradient_x_input"][at] = gxi.to(cross.dtype)
    example: dict[str, Any] = {}
    if k == 0:
        i = next((j for j, r in enumerate(ref_ids) if 4 <= len(r) <= 8), 0)
        at = torch.nonzero(index == i).flatten()
        n_src = len(src_ids[i])
        example = {
            "source": [*sentences[i], "<eos>"],
            "target": [*references[i], "<eos>"],
            "maps": {m: rankings[m][at, :n_src].tolist() for m in METHODS["transformer"]
                     if m != "random"},
            "encoder_rollout": enc_rollout[at[0], :n_src, :n_src].tolist(),
            "encoder_flow": enc_flow[at[0], :n_src, :n_src].tolist(),
        }
    quality = {"quality/transformer/reference_token_probability": float(probability.mean()),
                "quality/transformer/steps": float(result.steps)}
    return {"transformer": Subject(predict, src_rows, rankings, float(UNK_ID), mask)}, quality, \
        example


# --- GAT on Cora ------------------------------------------------------------------------------


def explained_nodes(edge_index: Tensor, test_mask: Tensor, count: int, max_degree: int
                    ) -> Tensor:
    """The first ``count`` test nodes with 2 to ``max_degree`` distinct in-neighbours.

    Example:
        >>> edges = torch.tensor([[1, 2, 0, 0, 3], [0, 0, 1, 2, 1]])
        >>> explained_nodes(edges, torch.tensor([True, True, True, False]), 5, 3).tolist()
        [0, 1]
    """
    n = test_mask.shape[0]
    pairs = torch.unique(edge_index[0] * n + edge_index[1])
    source, target = pairs // n, pairs % n
    target = target[source != target]
    degree = torch.bincount(target, minlength=n)
    chosen = torch.nonzero(test_mask.cpu() & (degree.cpu() >= 2) & (degree.cpu() <= max_degree))
    return chosen.flatten()[:count]


def _edge_scores(edge_index: Tensor, values: Tensor, batch: NeighbourBatch) -> Tensor:
    """``(B, L)``: the value of the edge neighbour -> centre (summed over parallel edges)."""
    n = int(batch.nodes.shape[0])
    row = torch.full((n,), -1, dtype=torch.long, device=values.device)
    row[batch.centres] = torch.arange(batch.centres.numel(), device=values.device)
    into = row[edge_index[1]] >= 0
    dense = values.new_zeros(batch.centres.numel(), n)
    dense.index_put_((row[edge_index[1][into]], edge_index[0][into]), values[into],
                     accumulate=True)
    return dense.gather(1, batch.neighbours) * batch.valid


def _gat(config: FaithfulnessConfig, ctx: RunContext, graph: Any, k: int, seed: int
         ) -> tuple[dict[str, Subject], dict[str, float], dict[str, Any]]:
    gc = config.gat
    result = train_one_seed(graph, gc, seed=seed, device=ctx.device)
    m = gc.model
    model = GAT(graph.num_features, graph.num_classes, hidden_dim=m.hidden_dim,
                num_heads=m.num_heads, num_output_heads=m.num_output_heads,
                negative_slope=m.negative_slope)
    model.load_state_dict(result.state)
    model.to(ctx.device).eval()
    centres = explained_nodes(graph.edge_index, graph.test_mask, config.explained,
                              config.max_gat_degree)
    batch = neighbour_subgraphs(graph.edge_index, centres, graph.num_nodes)
    batch = NeighbourBatch(*(t.to(ctx.device) for t in batch))
    x = graph.features[batch.nodes.cpu()].to(ctx.device)
    with torch.no_grad():
        out = model(x, batch.edge_index)
    label = out.context[batch.centres].argmax(-1)
    rows = torch.arange(centres.numel(), device=x.device)
    assert out.edge_index is not None
    first, second = out.weights
    with torch.enable_grad():
        leaf = x.clone().requires_grad_(True)
        logits = model(leaf, batch.edge_index, need_weights=False).context
        (grad,) = torch.autograd.grad(logits[batch.centres, label].sum(), leaf)
    node_gxi = (x * grad).sum(-1)  # (n,)
    rankings = {
        "attention_layer1": _edge_scores(out.edge_index, first.mean(-1), batch),
        "attention_layer2": _edge_scores(out.edge_index, second.mean(-1), batch),
        "rollout": gat_rollout_scores(out.edge_index, first, second, batch).to(first.dtype),
        "gradient_x_input": node_gxi[batch.neighbours] * batch.valid,
        "random": _random(tuple(batch.valid.shape), derive_seed(seed, 14)),
    }

    sparse = to_sparse_features(x)  # the same function, O(nnz) for bag-of-words features

    def predict(keep: Tensor) -> Tensor:
        edges = drop_neighbour_edges(batch, keep)
        logits = model(sparse, edges, need_weights=False).context[batch.centres]
        return logits.softmax(-1)[rows, label]

    example: dict[str, Any] = {}
    if k == 0:
        i = int(torch.argmax((batch.valid.sum(1) >= 4).int()))
        count = int(batch.valid[i].sum())
        neighbours = batch.nodes[batch.neighbours[i, :count]]
        example = {
            "node": int(centres[i]),
            "node_class": int(graph.labels[centres[i]]),
            "neighbours": neighbours.tolist(),
            "neighbour_classes": graph.labels[neighbours.cpu()].tolist(),
            "scores": {m: rankings[m][i, :count].tolist() for m in METHODS["gat"]
                       if m != "random"},
        }
    inputs = torch.ones(batch.valid.shape, dtype=torch.float32, device=x.device)
    quality = {"quality/gat/test_accuracy_pct": result.test_accuracy}
    return {"gat": Subject(predict, inputs, rankings, 0.0, batch.valid)}, quality, example


# --- ST-CNN on distorted MNIST ----------------------------------------------------------------


def _stn(config: FaithfulnessConfig, ctx: RunContext, splits: Any, k: int, seed: int
         ) -> tuple[dict[str, Subject], dict[str, float], dict[str, Any]]:
    sc = config.stn
    channels, height, width = splits.train.image_shape
    torch.manual_seed(seed)
    model = build_sized_model("st_cnn_aff", sc.model, in_channels=channels,
                              input_size=(height, width), num_classes=10)
    trained = train_and_test("st_cnn_aff", model, splits.train, splits.val, splits.test_images,
                             splits.test_labels, optim=sc.optim, ctx=ctx, seed=seed,
                             scope=f"seed{k}")
    model.eval()
    images = splits.test_images[: config.explained].to(ctx.device)
    n = images.shape[0]
    rows = torch.arange(n, device=images.device)
    with torch.no_grad():
        out = model(images)
    label = out.logits.argmax(-1)
    align = bool(getattr(model.transformer, "align_corners", False))
    mass = sampling_mass(out.grids[0], (height, width), align_corners=align)  # (b, h, w)
    with torch.enable_grad():
        leaf = images.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(leaf).logits[rows, label].sum(), leaf)
    gxi = (images * grad).sum(1)  # (b, h, w)
    pixels = images.permute(0, 2, 3, 1).reshape(n, height * width, channels)

    def predict(x: Tensor) -> Tensor:
        image = x.reshape(n, height, width, channels).permute(0, 3, 1, 2)
        return model(image).logits.softmax(-1)[rows, label]

    inside = (mass > 0).reshape(n, height * width, 1)
    with torch.no_grad():
        full = predict(pixels)
        inside_only = predict(torch.where(inside, pixels, 0.0))
        outside_only = predict(torch.where(inside, 0.0, pixels))
    rankings = {
        "sampling_mass": mass.flatten(1),
        "gradient_x_input": gxi.flatten(1),
        "random": _random((n, height * width), derive_seed(seed, 15)),
    }
    example: dict[str, Any] = {}
    if k == 0:
        example = {"image": images[0, 0].tolist(), "label": int(label[0]),
                   "sampling_mass": mass[0].tolist(), "gradient_x_input": gxi[0].tolist()}
    quality = {
        "quality/stn/test_error_pct": trained.error,
        "stn/probability_full": float(full.mean()),
        "stn/probability_inside_only": float(inside_only.mean()),
        "stn/probability_outside_only": float(outside_only.mean()),
        "stn/inside_fraction": float(inside.float().mean()),
    }
    mask = torch.ones(n, height * width, dtype=torch.bool, device=images.device)
    return {"stn": Subject(predict, pixels, rankings, 0.0, mask)}, quality, example


# --- the run ----------------------------------------------------------------------------------


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def _gap_name(subject: str, method: str, mode: str) -> str:
    if mode == "deletion":
        return f"gap/{subject}/deletion/random_minus_{method}"
    return f"gap/{subject}/insertion/{method}_minus_random"


def main(config: FaithfulnessConfig, ctx: RunContext) -> dict[str, float]:
    """Train each model of ``config.models`` from ``config.seeds`` seeds and score every
    explanation by deletion and insertion; see the module docstring for the metrics."""
    start = time.perf_counter()
    data: dict[str, Any] = {}
    if "han" in config.models:
        data["han"] = prepare_reuters(config.han.data, ctx)
    if "transformer" in config.models:
        data["transformer"] = prepare_translation(config.transformer, ctx)
    if "gat" in config.models:
        data["gat"] = load_cora(data_dir=ctx.data_dir)
    if "stn" in config.models:
        data["stn"] = make_splits(config.stn.distortions[0], config.stn.data, ctx)
    ctx.logger.info("data prepared in %.1f s", time.perf_counter() - start)
    runners = {"han": _han, "transformer": _transformer, "gat": _gat, "stn": _stn}
    aucs: dict[tuple[str, str, str], list[float]] = {}
    curves: dict[tuple[str, str, str], list[Tensor]] = {}
    quality: dict[str, list[float]] = {}
    examples: dict[str, Any] = {}
    for k in range(config.seeds):
        seed = derive_seed(ctx.seed, k) % 2**31
        for name in config.models:
            tic = time.perf_counter()
            subjects, extra, example = runners[name](config, ctx, data[name], k, seed)
            if example:
                examples[name] = example
            for key, value in extra.items():
                quality.setdefault(key, []).append(value)
            for subject_name, subject in subjects.items():
                for method, modes in score_subject(subject, config.steps).items():
                    for mode, (auc, curve) in modes.items():
                        aucs.setdefault((subject_name, method, mode), []).append(auc)
                        curves.setdefault((subject_name, method, mode), []).append(curve.cpu())
            ctx.logger.info("seed %d/%d, %s: trained and explained in %.0f s", k + 1,
                            config.seeds, name, time.perf_counter() - tic)
    metrics: dict[str, float] = {"seeds": float(config.seeds), "steps": float(config.steps)}
    for (name, method, mode), values in aucs.items():
        mean, std = _mean_std(values)
        metrics[f"auc/{name}/{method}/{mode}"] = mean
        metrics[f"auc/{name}/{method}/{mode}_std"] = std
        if method != "random":
            baseline = aucs[(name, "random", mode)]
            sign = 1.0 if mode == "deletion" else -1.0
            gaps = [sign * (b - v) for v, b in zip(values, baseline, strict=True)]
            gap, gap_std = _mean_std(gaps)
            metrics[_gap_name(name, method, mode)] = gap
            metrics[_gap_name(name, method, mode) + "_std"] = gap_std
    for key, values in quality.items():
        metrics[key], metrics[key + "_std"] = _mean_std(values)
    table = faithfulness_table(metrics, config)
    ctx.logger.info("faithfulness (mean +- std over %d seeds):\n%s", config.seeds, table)
    if ctx.is_main:
        ctx.path("faithfulness_table.md").write_text(table, encoding="utf-8")
        mean_curves = {
            f"{s}/{m}/{mode}": torch.stack(c).mean(0).tolist() for (s, m, mode), c in curves.items()
        }
        ctx.path("curves.json").write_text(json.dumps({"steps": config.steps,
                                                       "curves": mean_curves}), encoding="utf-8")
        ctx.path("explanations.json").write_text(json.dumps(examples), encoding="utf-8")
    _plot_curves(ctx, curves, config)
    return metrics


def _verdict(gap: float, std: float, seeds: int) -> str:
    if seeds < 2:
        return "1 seed"
    if abs(gap) <= std or not math.isfinite(gap):
        return "not shown"
    return "beats random" if gap > 0 else "loses to random"


def faithfulness_table(metrics: dict[str, float], config: FaithfulnessConfig) -> str:
    """A markdown table: per subject and method, deletion and insertion AUC (mean +- std over
    seeds) and whether it beats random on each (its gap to random clear of the gap's spread
    over seeds, else "not shown").

    Example:
        >>> m = {"auc/stn/random/deletion": 0.5, "auc/stn/random/deletion_std": 0.01,
        ...      "auc/stn/random/insertion": 0.3, "auc/stn/random/insertion_std": 0.02}
        >>> table = faithfulness_table(m, FaithfulnessConfig(models=("stn",), seeds=3))
        >>> print(table.splitlines()[-1])
        | stn | random | 0.500 ± 0.010 | | 0.300 ± 0.020 | |
    """
    lines = [
        "| subject | method | deletion AUC (lower is better) | vs random "
        "| insertion AUC (higher is better) | vs random |",
        "|---|---|---|---|---|---|",
    ]
    for model in config.models:
        for subject in _SUBJECTS_OF_MODEL[model]:
            for method in METHODS[subject]:
                cells = [subject, method]
                for mode in FAITHFULNESS_MODES:
                    key = f"auc/{subject}/{method}/{mode}"
                    if key not in metrics:
                        cells += ["", ""]
                        continue
                    cells.append(f"{metrics[key]:.3f} ± {metrics[key + '_std']:.3f}")
                    if method == "random":
                        cells.append("")
                        continue
                    gap = metrics[_gap_name(subject, method, mode)]
                    std = metrics[_gap_name(subject, method, mode) + "_std"]
                    cells.append(f"{_verdict(gap, std, config.seeds)} ({gap:+.3f} ± {std:.3f})")
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines).replace("|  |", "| |")


def _plot_curves(ctx: RunContext, curves: dict[tuple[str, str, str], list[Tensor]],
                 config: FaithfulnessConfig) -> None:
    subjects = [s for m in config.models for s in _SUBJECTS_OF_MODEL[m]]
    with ctx.plotting("faithfulness_curves"):
        from attnlab.interpret.viz import plot_faithfulness_curves

        fig = plot_faithfulness_curves({
            subject: {
                mode: {
                    method: torch.stack(curves[(subject, method, mode)])
                    for method in METHODS[subject] if curves.get((subject, method, mode))
                }
                for mode in FAITHFULNESS_MODES
            }
            for subject in subjects
        })
        ctx.save_plot(
            fig, "faithfulness_curves",
            caption=(
                "Deletion (left: inputs removed most-important first; a faithful ranking "
                "drops fast) and insertion (right: inputs put back into an all-removed input; "
                "a faithful ranking rises fast) curves of the probability of the explained "
                f"output, mean over the explained examples and over {config.seeds} seeds "
                "(shaded: one standard deviation over seeds); dashed: random order."
            ),
        )

