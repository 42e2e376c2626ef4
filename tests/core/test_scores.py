"""Alignment (score) functions: against paper-literal loops, shapes, errors, gradients, memory."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call
from torch.overrides import TorchFunctionMode

from attnlab.core._additive_kernel import _tile_shape
from attnlab.core.scores import (
    SCORE_NAMES,
    ActivatedGeneralScore,
    AdditiveScore,
    BiasedGeneralScore,
    ConcatScore,
    CosineScore,
    DeepScore,
    DotScore,
    GeneralScore,
    KernelScore,
    LocationScore,
    ScaledDotScore,
    Score,
    additive_scores,
    build_score,
)
from helpers import assert_close, gradcheck
from reference import scores as ref

F64 = torch.float64
Reference = Callable[[Tensor, Tensor], Tensor]


def _randomise(module: torch.nn.Module, seed: int = 1) -> None:
    """Give every parameter (zero-initialised biases included) a random value."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)


def _dot() -> tuple[Score, Reference, int, int]:
    return DotScore(), ref.dot_score, 4, 4


def _scaled_dot() -> tuple[Score, Reference, int, int]:
    return ScaledDotScore(), ref.scaled_dot_score, 4, 4


def _general() -> tuple[Score, Reference, int, int]:
    s = GeneralScore(4, 6, dtype=F64)
    return s, lambda q, k: ref.general_score(q, k, s.weight), 4, 6


def _biased_general() -> tuple[Score, Reference, int, int]:
    s = BiasedGeneralScore(4, 6, dtype=F64)
    _randomise(s)
    return s, lambda q, k: ref.biased_general_score(q, k, s.weight, s.key_bias), 4, 6


def _activated_general() -> tuple[Score, Reference, int, int]:
    s = ActivatedGeneralScore(4, 6, dtype=F64)
    _randomise(s)
    return (
        s,
        lambda q, k: ref.activated_general_score(q, k, s.weight, s.score_bias, torch.tanh),
        4,
        6,
    )


def _concat() -> tuple[Score, Reference, int, int]:
    s = ConcatScore(4, 6, hidden_dim=5, hidden_bias=True, dtype=F64)
    _randomise(s)
    return s, lambda q, k: ref.concat_score(q, k, s.weight, s.v, s.hidden_bias), 4, 6


def _additive() -> tuple[Score, Reference, int, int]:
    s = AdditiveScore(4, 6, hidden_dim=5, dtype=F64)
    return (
        s,
        lambda q, k: ref.additive_score(q, k, s.query_proj.weight, s.key_proj.weight, s.v),
        4,
        6,
    )


def _additive_chunked() -> tuple[Score, Reference, int, int]:
    # 5 hidden units x 8 bytes x 2 triples: tiles of 1 query x 2 keys, over Lk = 3 or 5.
    s = AdditiveScore(4, 6, hidden_dim=5, hidden_bias=True, chunk_bytes=80, dtype=F64)
    _randomise(s)
    W, U, b = s.query_proj.weight, s.key_proj.weight, s.key_proj.bias
    return s, lambda q, k: ref.additive_score(q, k, W, U, s.v, b), 4, 6


def _cosine() -> tuple[Score, Reference, int, int]:
    return CosineScore(sharpening=3.0), lambda q, k: ref.cosine_score(q, k, 3.0), 4, 4


def _cosine_learnable() -> tuple[Score, Reference, int, int]:
    s = CosineScore(sharpening=2.5, learnable_sharpening=True, dtype=F64)
    assert s.log_sharpening is not None
    beta = s.log_sharpening.exp()
    return s, lambda q, k: ref.cosine_score(q, k, beta), 4, 4


def _location() -> tuple[Score, Reference, int, int]:
    s = LocationScore(4, max_length=7, dtype=F64)
    return s, lambda q, k: ref.location_score(q, k.shape[1], s.weight), 4, 6


def _deep() -> tuple[Score, Reference, int, int]:
    # 5 x 8 bytes x Lk per query row; 100 bytes: one query row per chunk.
    s = DeepScore(
        4, 6, hidden_dim=5, num_layers=3, activation=torch.tanh, chunk_bytes=100, dtype=F64
    )
    _randomise(s)
    layers = [(layer.weight, layer.bias) for layer in s.layers]

    def reference(q: Tensor, k: Tensor) -> Tensor:
        W, U, b_1 = s.query_proj.weight, s.key_proj.weight, s.key_proj.bias
        return ref.deep_score(q, k, W, U, b_1, layers, s.v, torch.tanh)

    return s, reference, 4, 6


def _deep_relu() -> tuple[Score, Reference, int, int]:
    s = DeepScore(4, 6, hidden_dim=5, dtype=F64)
    _randomise(s)
    layers = [(layer.weight, layer.bias) for layer in s.layers]

    def reference(q: Tensor, k: Tensor) -> Tensor:
        W, U, b_1 = s.query_proj.weight, s.key_proj.weight, s.key_proj.bias
        return ref.deep_score(q, k, W, U, b_1, layers, s.v, F.relu)

    return s, reference, 4, 6


def _kernel() -> tuple[Score, Reference, int, int]:
    s = KernelScore(4, num_features=7, dtype=F64)
    return s, lambda q, k: ref.kernel_score(q, k, s.projection), 4, 4


CASES: dict[str, Callable[[], tuple[Score, Reference, int, int]]] = {
    "dot": _dot,
    "scaled_dot": _scaled_dot,
    "general": _general,
    "biased_general": _biased_general,
    "activated_general": _activated_general,
    "concat": _concat,
    "additive": _additive,
    "additive_chunked": _additive_chunked,
    "cosine": _cosine,
    "cosine_learnable": _cosine_learnable,
    "location": _location,
    "deep": _deep,
    "deep_relu": _deep_relu,
    "kernel": _kernel,
}
FACTORIZED = {"dot", "scaled_dot", "general", "biased_general", "cosine", "cosine_learnable"}


def _inputs(
    dq: int, dk: int, *, batch: int, q_len: int, k_len: int, dtype: torch.dtype = F64
) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(batch * 100 + q_len * 10 + k_len)
    return (
        torch.randn(batch, q_len, dq, generator=g, dtype=dtype),
        torch.randn(batch, k_len, dk, generator=g, dtype=dtype),
    )


@pytest.mark.parametrize("shape", [(1, 3, 5), (2, 4, 3)], ids=["B1", "B2"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_score_matches_paper_loop(name: str, shape: tuple[int, int, int]) -> None:
    score, reference, dq, dk = CASES[name]()
    q, k = _inputs(dq, dk, batch=shape[0], q_len=shape[1], k_len=shape[2])
    scores = score(q, k)
    assert scores.shape == shape
    assert_close(scores, reference(q, k))


@pytest.mark.parametrize("name", sorted(CASES))
def test_score_shape_and_dtype(name: str, dtype: torch.dtype, device: torch.device) -> None:
    score, _, dq, dk = CASES[name]()
    score = score.to(device=device, dtype=dtype)
    q, k = _inputs(dq, dk, batch=3, q_len=2, k_len=5, dtype=dtype)
    scores = score(q.to(device), k.to(device))
    assert scores.shape == (3, 2, 5) and scores.dtype == dtype
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("name", sorted(CASES))
def test_factorize_reproduces_the_score(name: str) -> None:
    score, _, dq, dk = CASES[name]()
    q, k = _inputs(dq, dk, batch=2, q_len=3, k_len=4)
    factors = score.factorize(q, k)
    if name not in FACTORIZED:
        assert factors is None
        return
    assert factors is not None
    f_q, g_k, scale = factors
    assert isinstance(scale, float)
    assert_close(scale * f_q @ g_k.transpose(1, 2), score(q, k))


@pytest.mark.parametrize("name", sorted(CASES))
def test_score_gradcheck_inputs_and_parameters(name: str) -> None:
    score, _, dq, dk = CASES[name]()
    q, k = _inputs(dq, dk, batch=2, q_len=3, k_len=4)
    names = [n for n, _ in score.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in score.named_parameters()]
    q.requires_grad_()
    # A location score reads only the number of keys, so the key is not differentiated.
    k.requires_grad_(name != "location")

    def fn(q: Tensor, k: Tensor, *params: Tensor) -> Tensor:
        out: Tensor = functional_call(score, dict(zip(names, params, strict=True)), (q, k))
        return out

    assert gradcheck(fn, (q, k, *params))


# ------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_wrong_rank_names_the_argument(name: str) -> None:
    score, _, dq, dk = CASES[name]()
    q, k = _inputs(dq, dk, batch=2, q_len=3, k_len=4)
    with pytest.raises(ValueError, match=r"query must be a 3-D tensor"):
        score(q[0], k)
    with pytest.raises(ValueError, match=r"key must be a 3-D tensor"):
        score(q, k[None])
    with pytest.raises(ValueError, match="batch size"):
        score(q, k[:1])
    with pytest.raises(TypeError, match="query"):
        score(q.tolist(), k)


@pytest.mark.parametrize("name", sorted(CASES))
def test_mismatched_feature_size_names_the_argument(name: str) -> None:
    score, _, dq, dk = CASES[name]()
    q, k = _inputs(dq + 1, dk, batch=2, q_len=3, k_len=4)
    pattern = "feature size" if score.query_dim is None else "query_dim"
    with pytest.raises(ValueError, match=pattern):
        score(q, k)
    if name == "location":
        return  # the keys' features are not used
    q, k = _inputs(dq, dk + 1, batch=2, q_len=3, k_len=4)
    with pytest.raises(ValueError, match="feature size" if score.key_dim is None else "key_dim"):
        score(q, k)


def test_location_score_rejects_keys_longer_than_max_length() -> None:
    score = LocationScore(4, max_length=5)
    with pytest.raises(ValueError, match="max_length=5"):
        score(torch.randn(1, 2, 4), torch.randn(1, 6, 4))
    assert score(torch.randn(1, 2, 4), torch.randn(1, 5, 9)).shape == (1, 2, 5)


@pytest.mark.parametrize(
    ("factory", "kwargs", "error", "pattern"),
    [
        (GeneralScore, {"query_dim": 0}, ValueError, "query_dim"),
        (GeneralScore, {"query_dim": 4, "key_dim": -1}, ValueError, "key_dim"),
        (GeneralScore, {"query_dim": 2.5}, TypeError, "query_dim"),
        (AdditiveScore, {"query_dim": 4, "hidden_dim": 0}, ValueError, "hidden_dim"),
        (AdditiveScore, {"query_dim": 4, "chunk_bytes": 0}, ValueError, "chunk_bytes"),
        (ConcatScore, {"query_dim": 4, "hidden_dim": True}, TypeError, "hidden_dim"),
        (DeepScore, {"query_dim": 4, "num_layers": 0}, ValueError, "num_layers"),
        (LocationScore, {"query_dim": 4, "max_length": 0}, ValueError, "max_length"),
        (KernelScore, {"dim": 4, "num_features": 0}, ValueError, "num_features"),
        (KernelScore, {"dim": 4, "seed": 1.5}, TypeError, "seed"),
        (CosineScore, {"sharpening": 0.0}, ValueError, "sharpening"),
        (CosineScore, {"sharpening": float("nan")}, ValueError, "sharpening"),
        (ScaledDotScore, {"scale": -1.0}, ValueError, "scale"),
        (ActivatedGeneralScore, {"query_dim": 4, "activation": 3}, TypeError, "activation"),
    ],
)
def test_bad_constructor_arguments(
    factory: Callable[..., Score], kwargs: dict[str, Any], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        factory(**kwargs)


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (DotScore, {"dim": 4}),
        (GeneralScore, {"query_dim": 4, "hiden_dim": 3}),
        (AdditiveScore, {"query_dim": 4, "hidden": 3}),
        (CosineScore, {"beta": 2.0}),
        (KernelScore, {"dim": 4, "features": 8}),
        (LocationScore, {"query_dim": 4, "max_length": 3, "bias": True}),
    ],
)
def test_unknown_keyword_raises_type_error(
    factory: Callable[..., Score], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError, match="unexpected keyword"):
        factory(**kwargs)


def test_build_score_by_name() -> None:
    for name in SCORE_NAMES:
        score = build_score(name, query_dim=4, hidden_dim=3)
        assert isinstance(score, Score)
        assert score(torch.randn(2, 3, 4), torch.randn(2, 5, 4)).shape == (2, 3, 5)
    with pytest.raises(ValueError, match="max_length"):
        build_score("location", query_dim=4)
    with pytest.raises(ValueError, match="KernelScore"):
        build_score("kernel", query_dim=4)
    with pytest.raises(ValueError, match="unknown score 'bilinear'"):
        build_score("bilinear", query_dim=4)
    with pytest.raises(ValueError, match="query_dim == key_dim"):
        build_score("dot", query_dim=4, key_dim=5)


def test_constructors_honour_device_and_dtype(device: torch.device) -> None:
    for score in (
        GeneralScore(3, dtype=F64, device=device),
        AdditiveScore(3, dtype=F64, device=device),
        ConcatScore(3, dtype=F64, device=device),
        DeepScore(3, dtype=F64, device=device),
        LocationScore(3, max_length=4, dtype=F64, device=device),
        KernelScore(3, dtype=F64, device=device),
        CosineScore(learnable_sharpening=True, dtype=F64, device=device),
    ):
        for tensor in [*score.parameters(), *score.buffers()]:
            assert tensor.dtype == F64 and tensor.device.type == device.type


# ------------------------------------------------------------------------------------------
# Score-specific properties
# ------------------------------------------------------------------------------------------


def test_cosine_zero_vectors_give_zero_scores_and_finite_gradients() -> None:
    score = CosineScore(sharpening=2.0, learnable_sharpening=True, dtype=F64)
    q = torch.randn(1, 2, 3, dtype=F64)
    q[0, 0] = 0.0
    q.requires_grad_()
    k = torch.randn(1, 4, 3, dtype=F64, requires_grad=True)
    scores = score(q, k)
    assert torch.all(scores[0, 0] == 0)
    assert scores.abs().max() <= 2.0 + 1e-12
    scores.sum().backward()
    assert q.grad is not None and k.grad is not None and score.log_sharpening is not None
    assert torch.isfinite(q.grad).all() and torch.isfinite(k.grad).all()
    assert score.log_sharpening.grad is not None and score.log_sharpening.grad != 0


def test_activated_general_is_bounded_by_tanh() -> None:
    score = ActivatedGeneralScore(4)
    _randomise(score)
    scores = score(torch.randn(2, 3, 4) * 10, torch.randn(2, 5, 4) * 10)
    assert scores.abs().max() <= 1.0


def test_biased_general_bias_changes_relative_key_scores() -> None:
    score = BiasedGeneralScore(3, dtype=F64)
    q, k = _inputs(3, 3, batch=1, q_len=2, k_len=4)
    before = score(q, k)
    with torch.no_grad():
        score.key_bias.fill_(1.0)
    after = score(q, k)
    assert_close(after - before, k.sum(-1).unsqueeze(1).expand_as(before))


def test_kernel_features_are_positive_and_reproducible() -> None:
    a, b = KernelScore(6, num_features=20, seed=3), KernelScore(6, num_features=20, seed=3)
    assert torch.equal(a.projection, b.projection)
    assert not torch.equal(a.projection, KernelScore(6, num_features=20, seed=4).projection)
    x = torch.randn(2, 5, 6)
    assert (a.features(x) > 0).all()
    before = a.projection.clone()
    a.redraw_features()
    assert not torch.equal(before, a.projection)
    b.redraw_features()
    assert torch.equal(a.projection, b.projection)  # same seed, same redraws
    assert "projection" in a.state_dict()


def test_kernel_orthogonal_features_are_orthogonal_within_a_block() -> None:
    score = KernelScore(5, num_features=12, dtype=F64)
    block = score.projection[:5]
    gram = block @ block.t()
    off_diagonal = gram - torch.diag(torch.diagonal(gram))
    assert off_diagonal.abs().max() < 1e-10
    iid = KernelScore(5, num_features=12, orthogonal=False, dtype=F64).projection[:5]
    assert (iid @ iid.t() - torch.diag(torch.diagonal(iid @ iid.t()))).abs().max() > 1e-3


def test_kernel_score_estimates_the_softmax_kernel() -> None:
    """``E[phi(q).phi(k)] = exp(q.k / sqrt(d))``: the mean over many features converges."""
    d = 4
    score = KernelScore(d, num_features=20000, dtype=F64, seed=0)
    q, k = _inputs(d, d, batch=1, q_len=3, k_len=3)
    q, k = q * 0.5, k * 0.5
    exact = torch.exp(q @ k.transpose(1, 2) / math.sqrt(d))
    relative = ((score(q, k) - exact) / exact).abs().max()
    assert relative < 0.08  # standard error ~0.013 per entry at m = 20000


# ------------------------------------------------------------------------------------------
# Chunked additive scores
# ------------------------------------------------------------------------------------------


def _naive_additive(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    return torch.tanh(q.unsqueeze(2) + k.unsqueeze(1)) @ v  # (b, i, j, h) materialised


@pytest.mark.parametrize(
    ("chunk_triples", "tile"),
    [
        (1, (1, 1, 1)),  # one (b, i, j) triple per tile
        (3, (1, 1, 3)),  # keys split, 5 % 3 != 0
        (10, (1, 2, 5)),  # two query rows per tile, 7 % 2 != 0
        (25, (1, 5, 5)),  # 7 % 5 != 0
        (70, (2, 7, 5)),  # two batch elements per tile, 3 % 2 != 0
        (10_000, (3, 7, 5)),  # one tile
    ],
)
def test_chunked_additive_equals_materialised_formula(
    chunk_triples: int, tile: tuple[int, int, int]
) -> None:
    B, Lq, Lk, H = 3, 7, 5, 4
    chunk_bytes = chunk_triples * H * 8
    assert _tile_shape(B, Lq, Lk, H, 8, chunk_bytes) == tile
    g = torch.Generator().manual_seed(0)
    q = torch.randn(B, Lq, H, dtype=F64, generator=g, requires_grad=True)
    k = torch.randn(B, Lk, H, dtype=F64, generator=g, requires_grad=True)
    v = torch.randn(H, dtype=F64, generator=g, requires_grad=True)
    upstream = torch.randn(B, Lq, Lk, dtype=F64, generator=g)
    chunked = additive_scores(q, k, v, chunk_bytes=chunk_bytes)
    naive = _naive_additive(q, k, v)
    assert_close(chunked, naive)
    grads_chunked = torch.autograd.grad(chunked, (q, k, v), upstream)
    grads_naive = torch.autograd.grad(naive, (q, k, v), upstream)
    for a, b in zip(grads_chunked, grads_naive, strict=True):
        assert_close(a, b)


def test_chunked_additive_float32_matches_float64() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(*s, generator=g, dtype=F64) * 2 for s in ((2, 9, 16), (2, 11, 16), (16,))
    )
    exact = _naive_additive(q, k, v)
    chunked = additive_scores(q.float(), k.float(), v.float(), chunk_bytes=16 * 4 * 7)
    assert (chunked.double() - exact).abs().max() < 1e-5


def test_chunked_additive_gradcheck() -> None:
    g = torch.Generator().manual_seed(1)
    q = torch.randn(2, 5, 3, dtype=F64, generator=g, requires_grad=True)
    k = torch.randn(2, 4, 3, dtype=F64, generator=g, requires_grad=True)
    v = torch.randn(3, dtype=F64, generator=g, requires_grad=True)
    assert gradcheck(lambda q, k, v: additive_scores(q, k, v, chunk_bytes=3 * 8 * 6), (q, k, v))


def test_chunked_additive_only_differentiates_what_is_asked() -> None:
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4, requires_grad=True), torch.randn(4)
    (grad_k,) = torch.autograd.grad(additive_scores(q, k, v).sum(), (k,))
    assert grad_k.shape == k.shape
    with torch.no_grad():
        assert not additive_scores(q, k, v).requires_grad


def test_additive_scores_validates_its_inputs() -> None:
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(4)
    with pytest.raises(ValueError, match="key_proj"):
        additive_scores(q, k[..., :3], v)
    with pytest.raises(ValueError, match="v has size 5"):
        additive_scores(q, k, torch.randn(5))
    with pytest.raises(ValueError, match="query_proj must be a 3-D"):
        additive_scores(q[0], k, v)
    with pytest.raises(ValueError, match="chunk_bytes"):
        additive_scores(q, k, v, chunk_bytes=0)


class _LargestTensor(TorchFunctionMode):
    """Records the largest tensor any torch function returns while active."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("cls", [AdditiveScore, ConcatScore, DeepScore])
def test_additive_family_never_builds_the_four_dimensional_tensor(cls: type[Score]) -> None:
    B, Lq, Lk, H = 2, 16, 12, 8
    full = B * Lq * Lk * H
    # The probe can fail: the materialised formula is seen.
    with _LargestTensor() as probe:
        _naive_additive(torch.randn(B, Lq, H), torch.randn(B, Lk, H), torch.randn(H))
    assert probe.largest == full

    score = cls(6, 5, hidden_dim=H, chunk_bytes=2 * Lk * H * 4)  # type: ignore[call-arg]
    q = torch.randn(B, Lq, 6, requires_grad=True)
    k = torch.randn(B, Lk, 5, requires_grad=True)
    saved: list[int] = []

    def pack(t: Tensor) -> Tensor:
        saved.append(t.numel())
        return t

    with _LargestTensor() as probe:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            scores = score(q, k)
        scores.square().sum().backward()
    assert probe.largest <= max(B * Lq * Lk, 2 * Lk * H)  # forward and backward
    assert max(saved) <= B * Lq * Lk  # what autograd keeps for the backward pass
    assert q.grad is not None and k.grad is not None
