"""Co-attention (Lu et al. 2016): parallel and alternating forms."""

from __future__ import annotations

import pytest
import torch

from attnlab.core.masks import masked_softmax
from attnlab.core.registry import list_mechanisms
from attnlab.mechanisms.coattention import (
    AlternatingCoAttention,
    AlternatingCoAttentionOutput,
    ParallelCoAttention,
    ParallelCoAttentionOutput,
)
from helpers import assert_close, gradcheck
from reference.coattention import alternating_coattention, parallel_coattention

CLASSES = [ParallelCoAttention, AlternatingCoAttention]


def _masks(B: int, T: int, N: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Question/image padding masks that mask something; with B >= 3, example 1 has an empty
    question and example 2 an empty image."""
    g = torch.Generator().manual_seed(1)
    q_len = torch.randint(1, T + 1, (B,), generator=g)
    v_len = torch.randint(1, N + 1, (B,), generator=g)
    q_len[0], v_len[0] = T - 1, N - 2
    if B >= 3:
        q_len[1], v_len[2] = 0, 0
    qm = torch.arange(T) < q_len[:, None]
    vm = torch.arange(N) < v_len[:, None]
    assert qm.any() and (~qm).any() and vm.any() and (~vm).any()
    return qm, vm


def _inputs(B=4, T=5, N=7, Dq=6, Dv=4, dtype=torch.float64):
    q = torch.randn(B, T, Dq, dtype=dtype)
    v = torch.randn(B, N, Dv, dtype=dtype)
    return q, v, *_masks(B, T, N)


def _params_parallel(m: ParallelCoAttention):
    return dict(W_b=m.w_b.weight, W_q=m.w_q.weight, W_v=m.w_v.weight,
                w_hq=m.w_hq.weight[0], w_hv=m.w_hv.weight[0])


def _params_alternating(m: AlternatingCoAttention):
    return {
        "s_Wx": m.summary.w_x.weight, "s_whx": m.summary.w_hx.weight[0],
        "v_Wx": m.image_step.w_x.weight, "v_Wg": m.image_step.w_g.weight,
        "v_whx": m.image_step.w_hx.weight[0],
        "q_Wx": m.question_step.w_x.weight, "q_Wg": m.question_step.w_g.weight,
        "q_whx": m.question_step.w_hx.weight[0],
    }


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("B", [1, 3])
def test_shapes(cls, B: int, device: torch.device, dtype: torch.dtype) -> None:
    T, N, Dq, Dv = 5, 7, 6, 4
    module = cls(Dq, Dv, 3, device=device, dtype=dtype)
    q = torch.randn(B, T, Dq, device=device, dtype=dtype)
    v = torch.randn(B, N, Dv, device=device, dtype=dtype)
    out = module(q, v)
    assert out._fields[:4] == ("context", "weights", "question", "image")
    assert out.context.shape == (B, Dq + Dv) and out.weights.shape == (B, T + N)
    assert out.question.context.shape == (B, Dq) and out.question.weights.shape == (B, T)
    assert out.image.context.shape == (B, Dv) and out.image.weights.shape == (B, N)
    assert out.context.dtype == dtype and out.context.device.type == device.type
    if cls is ParallelCoAttention:
        assert isinstance(out, ParallelCoAttentionOutput)
        assert out.affinity.shape == (B, T, N)
    else:
        assert isinstance(out, AlternatingCoAttentionOutput)
        assert out.summary.weights.shape == (B, T)


def test_parallel_matches_paper_literal_reference() -> None:
    q, v, qm, vm = _inputs()
    module = ParallelCoAttention(6, 4, 3, dtype=torch.float64)
    out = module(q, v, question_mask=qm, image_mask=vm)
    q_hat, a_q, v_hat, a_v, C = parallel_coattention(q, v, qm, vm, **_params_parallel(module))
    assert_close(out.question.context, q_hat)
    assert_close(out.question.weights, a_q)
    assert_close(out.image.context, v_hat)
    assert_close(out.image.weights, a_v)
    assert_close(out.affinity, C)
    assert_close(out.context, torch.cat([q_hat, v_hat], -1))
    assert_close(out.weights, torch.cat([a_q, a_v], -1))


def test_alternating_matches_paper_literal_reference() -> None:
    q, v, qm, vm = _inputs()
    module = AlternatingCoAttention(6, 4, 3, dtype=torch.float64)
    out = module(q, v, question_mask=qm, image_mask=vm)
    s, a_s, v_hat, a_v, q_hat, a_q = alternating_coattention(
        q, v, qm, vm, _params_alternating(module)
    )
    assert_close(out.summary.context, s)
    assert_close(out.summary.weights, a_s)
    assert_close(out.image.context, v_hat)
    assert_close(out.image.weights, a_v)
    assert_close(out.question.context, q_hat)
    assert_close(out.question.weights, a_q)
    assert_close(out.context, torch.cat([q_hat, v_hat], -1))


@pytest.mark.parametrize("cls", CLASSES)
def test_without_masks_matches_all_true_masks(cls) -> None:
    q, v, _, _ = _inputs()
    module = cls(6, 4, 3, dtype=torch.float64)
    full_q = torch.ones(q.shape[:2], dtype=torch.bool)
    full_v = torch.ones(v.shape[:2], dtype=torch.bool)
    a = module(q, v)
    b = module(q, v, question_mask=full_q, image_mask=full_v)
    assert_close(a.context, b.context)
    assert_close(a.weights, b.weights)


@pytest.mark.parametrize("cls", CLASSES)
def test_weight_invariants(cls) -> None:
    q, v, qm, vm = _inputs()
    out = cls(6, 4, 3, dtype=torch.float64)(q, v, question_mask=qm, image_mask=vm)
    for weights, mask in ((out.question.weights, qm), (out.image.weights, vm)):
        assert (weights >= 0).all()
        assert (weights[~mask] == 0).all()  # exactly zero at padding
        expected = mask.any(-1).to(weights.dtype)  # 1, or 0 for a fully padded side
        assert_close(weights.sum(-1), expected)
    # example 1 has an empty question, example 2 an empty image: zero weights and context
    assert (out.question.weights[1] == 0).all() and (out.question.context[1] == 0).all()
    assert (out.image.weights[2] == 0).all() and (out.image.context[2] == 0).all()
    # the other side is still attended
    assert_close(out.image.weights[1].sum(), torch.tensor(1.0, dtype=torch.float64))
    assert torch.isfinite(out.context).all()


def test_affinity_is_zero_exactly_at_padded_pairs() -> None:
    q, v, qm, vm = _inputs()
    module = ParallelCoAttention(6, 4, 3, dtype=torch.float64)
    out = module(q, v, question_mask=qm, image_mask=vm)
    pair = qm[:, :, None] & vm[:, None, :]
    assert pair.any() and (~pair).any()
    assert (out.affinity[~pair] == 0).all()
    full = torch.tanh(q @ module.w_b.weight @ v.transpose(1, 2))
    assert_close(out.affinity[pair], full[pair])


@pytest.mark.parametrize("cls", CLASSES)
def test_padding_invariance(cls) -> None:
    """Appending padded question words and padded image regions (with huge values) changes
    nothing: the result equals the unpadded run."""
    B, T, N = 2, 4, 5
    q, v, qm, vm = _inputs(B=B, T=T, N=N)
    qm[:], vm[:] = True, True
    module = cls(6, 4, 3, dtype=torch.float64)
    ref = module(q, v)
    q_pad = torch.cat([q, 1e3 * torch.randn(B, 3, 6, dtype=torch.float64)], 1)
    v_pad = torch.cat([v, 1e3 * torch.randn(B, 2, 4, dtype=torch.float64)], 1)
    qm_pad = torch.cat([qm, torch.zeros(B, 3, dtype=torch.bool)], 1)
    vm_pad = torch.cat([vm, torch.zeros(B, 2, dtype=torch.bool)], 1)
    out = module(q_pad, v_pad, question_mask=qm_pad, image_mask=vm_pad)
    assert_close(out.context, ref.context)
    assert_close(out.question.weights[:, :T], ref.question.weights)
    assert_close(out.image.weights[:, :N], ref.image.weights)
    assert (out.question.weights[:, T:] == 0).all() and (out.image.weights[:, N:] == 0).all()
    if cls is ParallelCoAttention:
        assert_close(out.affinity[:, :T, :N], ref.affinity)


@pytest.mark.parametrize("cls", CLASSES)
def test_fully_padded_sides_give_zeros_and_finite_grads(cls) -> None:
    q, v, _, _ = _inputs(B=2)
    q.requires_grad_(True)
    v.requires_grad_(True)
    qm = torch.tensor([[False] * 5, [True] * 5])
    vm = torch.tensor([[False] * 7, [True] * 3 + [False] * 4])
    module = cls(6, 4, 3, dtype=torch.float64)
    out = module(q, v, question_mask=qm, image_mask=vm)
    assert (out.context[0] == 0).all() and (out.weights[0] == 0).all()
    (out.context.sum() + out.weights.square().sum()).backward()
    for t in (q.grad, v.grad, *(p.grad for p in module.parameters())):
        assert t is not None and torch.isfinite(t).all()
    assert (q.grad[0] == 0).all() and (v.grad[0] == 0).all()


@pytest.mark.parametrize("cls", CLASSES)
def test_gradcheck(cls) -> None:
    q, v, qm, vm = _inputs(B=3, T=4, N=5)
    q.requires_grad_(True)
    v.requires_grad_(True)
    module = cls(6, 4, 3, dtype=torch.float64)

    def fn(question, image):
        out = module(question, image, question_mask=qm, image_mask=vm)
        return out.context, out.weights

    assert gradcheck(fn, (q, v))


def test_parallel_form_is_symmetric_under_swapping_inputs() -> None:
    """Swapping question and image, with W_b -> W_b^T and (W_q, w_hq) <-> (W_v, w_hv), swaps the
    outputs and transposes the affinity matrix (eqs. 3-4 are symmetric)."""
    q, v, qm, vm = _inputs()
    a = ParallelCoAttention(6, 4, 3, dtype=torch.float64)
    b = ParallelCoAttention(4, 6, 3, dtype=torch.float64)
    with torch.no_grad():
        b.w_b.weight.copy_(a.w_b.weight.T)
        b.w_q.weight.copy_(a.w_v.weight)
        b.w_v.weight.copy_(a.w_q.weight)
        b.w_hq.weight.copy_(a.w_hv.weight)
        b.w_hv.weight.copy_(a.w_hq.weight)
    out_a = a(q, v, question_mask=qm, image_mask=vm)
    out_b = b(v, q, question_mask=vm, image_mask=qm)
    assert_close(out_b.question.context, out_a.image.context)
    assert_close(out_b.question.weights, out_a.image.weights)
    assert_close(out_b.image.context, out_a.question.context)
    assert_close(out_b.image.weights, out_a.question.weights)
    assert_close(out_b.affinity, out_a.affinity.transpose(1, 2))


def test_alternating_image_attention_is_guided_by_the_question() -> None:
    q, v, _, _ = _inputs(B=2)
    module = AlternatingCoAttention(6, 4, 3, dtype=torch.float64)
    a = module(q, v).image.weights
    b = module(torch.randn_like(q), v).image.weights
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("cls", CLASSES)
def test_custom_distribution_is_used(cls) -> None:
    """A distribution that ignores the scores gives uniform weights over the valid positions."""
    q, v, qm, vm = _inputs()

    def uniform(scores, mask=None):
        return masked_softmax(scores * 0, mask)

    out = cls(6, 4, 3, distribution=uniform, dtype=torch.float64)(
        q, v, question_mask=qm, image_mask=vm
    )
    qf = qm.to(torch.float64)
    assert_close(out.question.weights, qf / qf.sum(-1, keepdim=True).clamp_min(1))


@pytest.mark.parametrize("cls", CLASSES)
def test_bad_inputs_name_the_argument(cls) -> None:
    module = cls(6, 4, 3)
    q, v = torch.randn(2, 5, 6), torch.randn(2, 7, 4)
    with pytest.raises(ValueError, match="question"):
        module(q[0], v)
    with pytest.raises(ValueError, match="image"):
        module(q, v[..., None])
    with pytest.raises(ValueError, match="question_dim"):
        module(torch.randn(2, 5, 4), v)
    with pytest.raises(ValueError, match="image_dim"):
        module(q, torch.randn(2, 7, 6))
    with pytest.raises(ValueError, match="batch size"):
        module(q, v[:1])
    with pytest.raises(TypeError, match="question_mask"):
        module(q, v, question_mask=torch.ones(2, 5))
    with pytest.raises(ValueError, match="image_mask"):
        module(q, v, image_mask=torch.ones(2, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="image_mask"):
        module(q, v, image_mask=torch.ones(2, 5, 7, dtype=torch.bool))
    with pytest.raises(TypeError):
        module(q, v, mask=torch.ones(2, 7, dtype=torch.bool))


def test_registered_as_co_attention() -> None:
    names = {e.name: e for e in list_mechanisms(sequences="co")}
    assert names["parallel_coattention"].cls is ParallelCoAttention
    assert names["alternating_coattention"].cls is AlternatingCoAttention
    for entry in (names["parallel_coattention"], names["alternating_coattention"]):
        module, args, kwargs = entry.example()
        assert all(m.any() and (~m).any() for m in kwargs.values())
        module(*args, **kwargs)
