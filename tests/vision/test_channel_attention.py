"""CBAM, ECA, scSE and Gather-Excite against slow paper-literal references."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from attnlab.core.registry import list_mechanisms
from attnlab.vision.channel_attention import (
    CBAM,
    ECA,
    SCSE,
    CBAMOutput,
    ECAOutput,
    GatherExcite,
    GatherExciteOutput,
    SCSEOutput,
    eca_kernel_size,
)
from helpers import assert_close, gradcheck
from reference.squeeze_excitation import (
    cbam_reference,
    eca_kernel_size_reference,
    eca_reference,
    gather_excite_reference,
    scse_reference,
)

F64 = torch.float64


def _functional(module: nn.Module):
    """``fn(x, *params)`` calling ``module`` with the given parameters (for gradcheck)."""
    names = [n for n, _ in module.named_parameters()]

    def fn(x, *params):
        out = torch.func.functional_call(module, dict(zip(names, params, strict=True)), (x,))
        return tuple(out)

    return fn, [p.detach().clone().requires_grad_(True) for p in module.parameters()]


# ------------------------------------------------------------------------------------ CBAM


@pytest.mark.parametrize("kernel_size", [3, 7])
def test_cbam_matches_slow_reference(kernel_size: int) -> None:
    cbam = CBAM(6, reduction=2, kernel_size=kernel_size, dtype=F64)
    x = torch.randn(2, 6, 4, 5, dtype=F64)
    out = cbam(x)
    assert isinstance(out, CBAMOutput) and out._fields[:2] == ("context", "weights")
    ref = cbam_reference(
        x,
        cbam.fc1.weight,
        cbam.fc1.bias,
        cbam.fc2.weight,
        cbam.fc2.bias,
        cbam.spatial.weight,
        float(cbam.spatial.bias.detach()),
    )
    for actual, expected in zip(out, ref, strict=True):
        assert_close(actual, expected)


def test_cbam_uses_the_max_pooled_branch() -> None:
    # a map whose channel averages are equal but whose maxima differ must get different gates
    cbam = CBAM(2, reduction=1, dtype=F64)
    x = torch.zeros(1, 2, 2, 2, dtype=F64)
    x[0, 0] = torch.tensor([[4.0, 0.0], [0.0, 0.0]])
    x[0, 1] = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    assert x[0, 0].mean() == x[0, 1].mean()
    with torch.no_grad():
        cbam.fc1.weight.copy_(torch.eye(2))
        cbam.fc1.bias.zero_()
        cbam.fc2.weight.copy_(torch.eye(2))
        cbam.fc2.bias.zero_()
    weights = cbam(x).weights
    expected = torch.sigmoid(torch.tensor([[1.0 + 4.0, 1.0 + 1.0]], dtype=F64))
    assert_close(weights, expected)


def test_cbam_zeroed_layers_give_gates_of_one_half_and_shapes() -> None:
    cbam = CBAM(32, reduction=16)
    with torch.no_grad():
        cbam.fc2.weight.zero_()
        cbam.fc2.bias.zero_()
        cbam.spatial.weight.zero_()
        cbam.spatial.bias.zero_()
    x = torch.randn(3, 32, 5, 4)
    out = cbam(x)
    # M_c = sigma(0 + 0) = 0.5 (both branches share the zeroed MLP), M_s = 0.5
    assert torch.equal(out.weights, torch.full((3, 32), 0.5))
    assert torch.equal(out.spatial_weights, torch.full((3, 1, 5, 4), 0.5))
    assert_close(out.context, x * 0.25)
    assert cbam.hidden_dim == 2


def test_cbam_gradcheck() -> None:
    cbam = CBAM(4, reduction=2, kernel_size=3, dtype=F64)
    fn, params = _functional(cbam)
    x = torch.randn(2, 4, 3, 3, dtype=F64, requires_grad=True)
    assert gradcheck(fn, [x, *params])


def test_cbam_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kernel_size"):
        CBAM(16, kernel_size=4)
    with pytest.raises(ValueError, match="reduction"):
        CBAM(8, reduction=16)
    with pytest.raises(ValueError, match="channels is 8"):
        CBAM(8, reduction=2)(torch.randn(1, 4, 3, 3))
    with pytest.raises(ValueError, match="x must be a 4-D"):
        CBAM(8, reduction=2)(torch.randn(8, 3, 3))


# ------------------------------------------------------------------------------------- ECA


def test_eca_kernel_sizes_follow_the_formula() -> None:
    # ECA-Net section 3.2.3 with gamma = 2, b = 1: 3, 5, 5, 5 for the four ResNet widths
    assert [eca_kernel_size(c) for c in (64, 128, 256, 512)] == [3, 5, 5, 5]
    assert [ECA(c).kernel_size for c in (64, 128, 256, 512)] == [3, 5, 5, 5]
    for c in [1, 2, 3, 7, 16, 100, 1000, 1024, 2048, 4096, 10**6]:
        assert eca_kernel_size(c) == eca_kernel_size_reference(c), c
    for gamma, beta in [(1.0, 1.0), (3.0, 2.0), (2.0, 0.0)]:
        for c in (16, 64, 256, 2048):
            assert eca_kernel_size(c, gamma=gamma, beta=beta) == eca_kernel_size_reference(
                c, gamma, beta
            )


@pytest.mark.parametrize(("channels", "kernel_size"), [(7, 3), (5, 5), (4, 1), (6, None)])
def test_eca_matches_slow_reference(channels: int, kernel_size: int | None) -> None:
    eca = ECA(channels, kernel_size=kernel_size, dtype=F64)
    assert sum(p.numel() for p in eca.parameters()) == eca.kernel_size  # k weights, no bias
    x = torch.randn(2, channels, 3, 4, dtype=F64)
    out = eca(x)
    assert isinstance(out, ECAOutput) and out._fields == ("context", "weights")
    ref_context, ref_weights = eca_reference(x, eca.conv.weight)
    assert_close(out.context, ref_context)
    assert_close(out.weights, ref_weights)


def test_eca_gradcheck() -> None:
    eca = ECA(6, kernel_size=3, dtype=F64)
    fn, params = _functional(eca)
    x = torch.randn(2, 6, 3, 2, dtype=F64, requires_grad=True)
    assert gradcheck(fn, [x, *params])


def test_eca_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kernel_size"):
        ECA(16, kernel_size=4)
    with pytest.raises(ValueError, match="kernel_size"):
        ECA(16, kernel_size=0)
    with pytest.raises(ValueError, match="channels"):
        eca_kernel_size(0)
    with pytest.raises(ValueError, match="gamma"):
        eca_kernel_size(16, gamma=0.0)
    with pytest.raises(ValueError, match="channels is 16"):
        ECA(16)(torch.randn(1, 8, 2, 2))


# ------------------------------------------------------------------------------------ scSE


@pytest.mark.parametrize("combine", ["add", "max", "mul"])
def test_scse_matches_slow_reference(combine: str) -> None:
    scse = SCSE(6, combine=combine, dtype=F64)
    x = torch.randn(2, 6, 3, 4, dtype=F64)
    out = scse(x)
    assert isinstance(out, SCSEOutput) and out._fields[:2] == ("context", "weights")
    se = scse.channel
    ref = scse_reference(
        x,
        se.fc1.weight,
        se.fc1.bias,
        se.fc2.weight,
        se.fc2.bias,
        scse.spatial.weight,
        float(scse.spatial.bias.detach()),
        combine=combine,
    )
    for actual, expected in zip(out, ref, strict=True):
        assert_close(actual, expected)


def test_scse_defaults_follow_the_paper() -> None:
    scse = SCSE(64)
    assert scse.combine == "add"
    assert scse.channel.hidden_dim == 32  # W1 in R^{C/2 x C}
    assert scse.spatial.weight.shape == (1, 64, 1, 1)  # W_sq: a 1x1 convolution to one map


def test_scse_gradcheck() -> None:
    scse = SCSE(4, dtype=F64)
    fn, params = _functional(scse)
    x = torch.randn(2, 4, 3, 3, dtype=F64, requires_grad=True)
    assert gradcheck(fn, [x, *params])


def test_scse_bad_arguments() -> None:
    with pytest.raises(ValueError, match="combine"):
        SCSE(8, combine="concat")
    with pytest.raises(ValueError, match="reduction"):
        SCSE(8, reduction=9)
    with pytest.raises(ValueError, match="channels is 8"):
        SCSE(8)(torch.randn(1, 6, 2, 2))


# --------------------------------------------------------------------------- Gather-Excite


@pytest.mark.parametrize("extent", [None, 1, 2, 3, 8])
@pytest.mark.parametrize(("h", "w"), [(6, 6), (7, 5)])
def test_gather_excite_matches_slow_reference(extent: int | None, h: int, w: int) -> None:
    ge = GatherExcite(extent=extent)
    x = torch.randn(2, 3, h, w, dtype=F64)
    out = ge(x)
    assert isinstance(out, GatherExciteOutput) and out._fields == ("context", "weights")
    ref_context, ref_weights = gather_excite_reference(x, extent)
    assert_close(out.context, ref_context)
    assert_close(out.weights, ref_weights)


@settings(max_examples=25, deadline=None)
@given(extent=st.integers(1, 6), h=st.integers(1, 13), w=st.integers(1, 13))
def test_gather_excite_gathered_size(extent: int, h: int, w: int) -> None:
    ge = GatherExcite(extent=extent)
    x = torch.randn(1, 2, h, w)
    assert ge.gather(x).shape == (1, 2, math.ceil(h / extent), math.ceil(w / extent))
    out = ge(x)
    assert out.weights.shape == x.shape
    assert ((out.weights > 0) & (out.weights < 1)).all()


def test_gather_excite_is_parameter_free_and_global_by_default() -> None:
    ge = GatherExcite()
    assert ge.extent is None and len(list(ge.parameters())) == 0
    x = torch.randn(2, 4, 3, 5)
    out = ge(x)
    assert_close(out.weights, torch.sigmoid(x.mean(dim=(2, 3), keepdim=True)).expand_as(x))


@pytest.mark.parametrize("extent", [None, 2])
def test_gather_excite_gradcheck(extent: int | None) -> None:
    ge = GatherExcite(extent=extent)
    x = torch.randn(1, 2, 5, 4, dtype=F64, requires_grad=True)
    assert gradcheck(lambda x: tuple(ge(x)), [x])


def test_gather_excite_bad_arguments() -> None:
    with pytest.raises(ValueError, match="extent"):
        GatherExcite(extent=0)
    with pytest.raises(TypeError, match="extent"):
        GatherExcite(extent=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="x must be a 4-D"):
        GatherExcite()(torch.randn(2, 3, 4))


# -------------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    ("name", "cls", "arxiv"),
    [
        ("cbam", CBAM, "1807.06521"),
        ("eca", ECA, "1910.03151"),
        ("scse", SCSE, "1803.02579"),
        ("gather_excite", GatherExcite, "1810.12348"),
    ],
)
def test_registered_with_tags(name: str, cls: type[nn.Module], arxiv: str) -> None:
    (entry,) = [e for e in list_mechanisms() if e.name == name]
    assert entry.cls is cls
    assert entry.tags == {
        "sequences": ("self",),
        "levels": ("single",),
        "positions": ("soft",),
        "representations": ("multi-dimensional",),
    }
    assert arxiv in entry.paper.url
    module, args, kwargs = entry.example()
    out = module(*args, **kwargs)
    assert out._fields[:2] == ("context", "weights")
    loss = sum(t.sum() for t in out if t.requires_grad)
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    assert all(p.grad is not None for p in module.parameters())
