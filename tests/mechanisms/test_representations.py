"""Dynamic meta-embeddings (Kiela et al. 2018): DME and CDME."""

from __future__ import annotations

import pytest
import torch

from attnlab.core.masks import lengths_to_mask
from attnlab.core.registry import list_mechanisms
from attnlab.mechanisms.representations import MetaEmbedding, MetaEmbeddingOutput
from helpers import assert_close, gradcheck
from reference.dme import dme_reference

F64 = torch.float64
DIMS = (5, 3, 4)


def _embeddings(batch: int, length: int, dims=DIMS, dtype=F64) -> tuple[torch.Tensor, ...]:
    return tuple(torch.randn(batch, length, d, dtype=dtype) for d in dims)


def _projections(module: MetaEmbedding) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(p.weight.detach(), p.bias.detach()) for p in module.projections]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("contextual", [False, True])
def test_shapes(batch: int, contextual: bool, dtype: torch.dtype, device: torch.device) -> None:
    dme = MetaEmbedding(DIMS, 6, contextual=contextual, dtype=dtype, device=device)
    xs = tuple(x.to(device) for x in _embeddings(batch, 7, dtype=dtype))
    mask = lengths_to_mask([7] * (batch - 1) + [4], 7, device=device)
    out = dme(*xs, mask=mask)
    assert (out.context[:, 4:][~mask[:, 4:]] == 0).all()
    assert isinstance(out, MetaEmbeddingOutput)
    assert out._fields[:2] == ("context", "weights")
    assert out.context.shape == (batch, 7, 6) and out.context.dtype == dtype
    assert out.weights.shape == (batch, 7, 3)
    assert out.projected.shape == (batch, 7, 3, 6)


@pytest.mark.parametrize("contextual", [False, True])
def test_matches_paper_literal_reference(contextual: bool) -> None:
    dme = MetaEmbedding(DIMS, 4, contextual=contextual, hidden_dim=2, dtype=F64)
    lengths = [5, 3, 0]
    embeddings = _embeddings(3, 5)
    mask = lengths_to_mask(lengths, 5)
    out = dme(*embeddings, mask=mask)
    context, weights = dme_reference(
        list(embeddings), _projections(dme), dme.attention.weight.detach()[0],
        lstm=dme.lstm, lengths=lengths,
    )
    assert_close(out.context, context)
    assert_close(out.weights, weights)


@pytest.mark.parametrize("contextual", [False, True])
def test_weights_sum_to_one_over_representations_and_zero_at_padding(contextual: bool) -> None:
    dme = MetaEmbedding(DIMS, 6, contextual=contextual, dtype=F64)
    mask = lengths_to_mask([6, 2], 6)
    assert mask.any() and (~mask).any()
    out = dme(*_embeddings(2, 6), mask=mask)
    assert (out.weights >= 0).all()
    assert_close(out.weights.sum(-1), mask.to(F64))
    assert (out.context[~mask] == 0).all() and (out.projected[~mask] == 0).all()
    manual = (out.weights.unsqueeze(-1) * out.projected).sum(2)
    assert_close(out.context, manual)


@pytest.mark.parametrize("contextual", [False, True])
def test_padding_invariance(contextual: bool) -> None:
    dme = MetaEmbedding(DIMS, 4, contextual=contextual, dtype=F64)
    embeddings = _embeddings(2, 5)
    mask = lengths_to_mask([5, 3], 5)
    padded = tuple(torch.cat([x, torch.randn(2, 3, x.shape[-1], dtype=F64)], 1) for x in embeddings)
    mask_pad = lengths_to_mask([5, 3], 8)
    a, b = dme(*embeddings, mask=mask), dme(*padded, mask=mask_pad)
    assert_close(a.context, b.context[:, :5])
    assert_close(a.weights, b.weights[:, :5])
    assert (b.context[:, 5:] == 0).all()
    # garbage in padded positions must not leak into the BiLSTM of the valid tokens
    noisy = tuple(torch.where(mask[..., None], x, torch.randn_like(x) * 100) for x in embeddings)
    c = dme(*noisy, mask=mask)
    assert_close(a.context, c.context)


@pytest.mark.parametrize("contextual", [False, True])
def test_empty_sentence_gives_zeros_and_finite_gradients(contextual: bool) -> None:
    dme = MetaEmbedding(DIMS, 4, contextual=contextual, dtype=F64)
    embeddings = tuple(x.requires_grad_() for x in _embeddings(2, 4))
    mask = lengths_to_mask([4, 0], 4)
    out = dme(*embeddings, mask=mask)
    assert (out.context[1] == 0).all() and (out.weights[1] == 0).all()
    (out.context.sum() + out.weights.sum()).backward()
    for x in embeddings:
        assert x.grad is not None and torch.isfinite(x.grad).all()
        assert (x.grad[1] == 0).all()
    for p in dme.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_one_set_is_its_projection() -> None:
    dme = MetaEmbedding([3], 5, dtype=F64)
    x = torch.randn(2, 4, 3, dtype=F64)
    out = dme(x)
    assert_close(out.weights, torch.ones(2, 4, 1, dtype=F64))
    assert_close(out.context, dme.projections[0](x))


@pytest.mark.parametrize("contextual", [False, True])
def test_gradcheck(contextual: bool) -> None:
    dme = MetaEmbedding((3, 2), 3, contextual=contextual, dtype=F64)
    embeddings = tuple(x.requires_grad_() for x in _embeddings(2, 3, dims=(3, 2)))
    mask = lengths_to_mask([3, 2], 3)

    def fn(*xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = dme(*xs, mask=mask)
        return out.context, out.weights

    assert gradcheck(fn, embeddings)


def test_rejects_bad_inputs() -> None:
    dme = MetaEmbedding(DIMS, 4)
    cdme = MetaEmbedding(DIMS, 4, contextual=True)
    xs = _embeddings(2, 5, dtype=torch.float32)
    with pytest.raises(ValueError, match="embedding tensors"):
        dme(*xs[:2])
    with pytest.raises(ValueError, match=r"embedding_dims\[1\]"):
        dme(xs[0], torch.randn(2, 5, 7), xs[2])
    with pytest.raises(ValueError, match=r"embeddings\[2\]"):
        dme(xs[0], xs[1], torch.randn(2, 6, 4))
    with pytest.raises(ValueError, match=r"embeddings\[0\]"):
        dme(torch.randn(5, 5), xs[1], xs[2])
    with pytest.raises(TypeError, match="mask"):
        dme(*xs, mask=torch.ones(2, 5))
    with pytest.raises(ValueError, match="mask"):
        dme(*xs, mask=torch.ones(2, 4, dtype=torch.bool))
    holes = torch.tensor([[True, False, True, True, True], [True] * 5])
    dme(*xs, mask=holes)  # DME treats tokens independently: any mask is fine
    with pytest.raises(ValueError, match="padding mask"):
        cdme(*xs, mask=holes)
    with pytest.raises(ValueError, match="embedding_dims"):
        MetaEmbedding([], 4)
    with pytest.raises(TypeError, match="embedding_dims"):
        MetaEmbedding(5, 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"embedding_dims\[1\]"):
        MetaEmbedding([3, 0], 4)
    with pytest.raises(ValueError, match="dim"):
        MetaEmbedding([3], 0)


def test_registered_with_multi_representational_tags() -> None:
    entries = {e.name: e for e in list_mechanisms(representations="multi-representational")}
    for name, contextual in (("meta_embedding", False), ("contextual_meta_embedding", True)):
        entry = entries[name]
        assert entry.cls is MetaEmbedding
        assert "1804.07983" in entry.paper.url
        module, args, kwargs = entry.example()
        assert module.contextual is contextual
        mask = kwargs["mask"]
        assert mask.any() and (~mask).any()
        out = module(*args, **kwargs)
        assert (out.weights[~mask] == 0).all()
