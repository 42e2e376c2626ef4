"""Squeeze-and-excitation block and the residual blocks that integrate it (Hu et al. 2018)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from attnlab.core.registry import list_mechanisms
from attnlab.vision.squeeze_excitation import (
    GATES,
    SE_POSITIONS,
    SQUEEZES,
    BlockOutput,
    Bottleneck,
    PreActBasicBlock,
    PreActBottleneck,
    SqueezeExcitation,
    SqueezeExcitationOutput,
)
from helpers import assert_close, gradcheck
from reference.squeeze_excitation import se_reference

# ----------------------------------------------------------------------------- the SE block


@pytest.mark.parametrize(
    ("channels", "reduction", "hidden"),
    [(64, 16, 4), (256, 16, 16), (16, 16, 1), (100, 16, 6), (2048, 16, 128), (64, 2, 32)],
)
def test_hidden_units_are_exactly_channels_floordiv_reduction(
    channels: int, reduction: int, hidden: int
) -> None:
    se = SqueezeExcitation(channels, reduction)
    assert se.hidden_dim == hidden
    assert se.fc1.weight.shape == (hidden, channels)
    assert se.fc2.weight.shape == (channels, hidden)
    # W1, b1, W2, b2 and nothing else
    assert sum(p.numel() for p in se.parameters()) == 2 * channels * hidden + hidden + channels


@pytest.mark.parametrize("batch", [1, 3])
def test_shapes(batch: int, dtype: torch.dtype) -> None:
    se = SqueezeExcitation(8, 4, dtype=dtype)
    x = torch.randn(batch, 8, 5, 7, dtype=dtype)
    out = se(x)
    assert isinstance(out, SqueezeExcitationOutput) and out._fields[:2] == ("context", "weights")
    assert out.context.shape == x.shape and out.context.dtype == dtype
    assert out.weights.shape == (batch, 8)


@pytest.mark.parametrize("squeeze", SQUEEZES)
@pytest.mark.parametrize("gate", GATES)
def test_matches_slow_reference(squeeze: str, gate: str) -> None:
    se = SqueezeExcitation(6, 2, squeeze=squeeze, gate=gate, dtype=torch.float64)
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64)
    out = se(x)
    ref_context, ref_weights = se_reference(
        x, se.fc1.weight, se.fc1.bias, se.fc2.weight, se.fc2.bias, squeeze=squeeze, gate=gate
    )
    assert_close(out.context, ref_context)
    assert_close(out.weights, ref_weights)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 3),
    channels=st.integers(1, 12),
    reduction=st.integers(1, 4),
    h=st.integers(1, 5),
    w=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_gates_in_open_unit_interval_and_context_is_rescaled_input(
    batch: int, channels: int, reduction: int, h: int, w: int, seed: int
) -> None:
    if channels // reduction == 0:
        return
    torch.manual_seed(seed)
    se = SqueezeExcitation(channels, reduction)
    x = torch.randn(batch, channels, h, w)
    context, weights = se(x)
    assert ((weights > 0) & (weights < 1)).all()
    assert_close(context, x * weights[:, :, None, None])


def test_gate_ranges() -> None:
    x = torch.randn(4, 16, 3, 3) * 5
    tanh = SqueezeExcitation(16, 4, gate="tanh")(x).weights
    relu = SqueezeExcitation(16, 4, gate="relu")(x).weights
    assert (tanh.abs() < 1).all() and (tanh < 0).any()
    assert (relu >= 0).all() and (relu == 0).any()


@pytest.mark.parametrize("squeeze", SQUEEZES)
def test_zeroed_last_layer_gives_gates_of_one_half(squeeze: str) -> None:
    se = SqueezeExcitation(32, 8, squeeze=squeeze)
    with torch.no_grad():
        se.fc2.weight.zero_()
        se.fc2.bias.zero_()
    x = torch.randn(3, 32, 4, 4)
    context, weights = se(x)
    assert torch.equal(weights, torch.full_like(weights, 0.5))
    assert torch.equal(context, x * 0.5)


def test_max_squeeze_uses_the_maximum() -> None:
    se = SqueezeExcitation(4, 1, squeeze="max", dtype=torch.float64)
    with torch.no_grad():
        se.fc1.weight.copy_(torch.eye(4))
        se.fc1.bias.zero_()
        se.fc2.weight.copy_(torch.eye(4))
        se.fc2.bias.zero_()
    x = torch.rand(2, 4, 3, 3, dtype=torch.float64)
    expected = torch.sigmoid(x.amax(dim=(2, 3)))
    assert_close(se(x).weights, expected)


def test_modules_are_registered_in_computation_order() -> None:
    # torchvision/vision#8209: a repr listing the ReLU after fc2 misled users
    se = SqueezeExcitation(16, 4, gate="tanh")
    assert list(se._modules) == ["fc1", "relu", "fc2", "gate"]
    assert isinstance(se.gate, nn.Tanh)
    text = repr(se)
    assert text.index("fc1") < text.index("ReLU") < text.index("fc2") < text.index("Tanh")
    assert "hidden_dim=4" in text


@pytest.mark.parametrize("squeeze", SQUEEZES)
@pytest.mark.parametrize("gate", ["sigmoid", "tanh"])
def test_gradcheck(squeeze: str, gate: str) -> None:
    torch.manual_seed(1)
    se = SqueezeExcitation(6, 2, squeeze=squeeze, gate=gate, dtype=torch.float64)
    x = torch.randn(2, 6, 3, 3, dtype=torch.float64, requires_grad=True)
    params = [p.detach().clone().requires_grad_(True) for p in se.parameters()]

    def fn(x, w1, b1, w2, b2):
        out = torch.func.functional_call(
            se, {"fc1.weight": w1, "fc1.bias": b1, "fc2.weight": w2, "fc2.bias": b2}, (x,)
        )
        return out.context, out.weights

    assert gradcheck(fn, [x, *params])


def test_device_and_dtype(device: torch.device) -> None:
    se = SqueezeExcitation(8, 2, device=device, dtype=torch.float64)
    assert se.fc1.weight.device.type == device.type and se.fc1.weight.dtype == torch.float64
    out = se(torch.randn(1, 8, 2, 2, device=device, dtype=torch.float64))
    assert out.weights.device.type == device.type


def test_registered_with_tags() -> None:
    (entry,) = [e for e in list_mechanisms() if e.name == "squeeze_excitation"]
    assert entry.cls is SqueezeExcitation
    assert entry.tags == {
        "sequences": ("self",),
        "levels": ("single",),
        "positions": ("soft",),
        "representations": ("multi-dimensional",),
    }
    assert "1709.01507" in entry.paper.url
    module, args, kwargs = entry.example()
    assert module(*args, **kwargs).weights.shape == (2, 16)


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcitation(8, 16)  # 8 // 16 == 0 hidden units
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcitation(8, 0)
    with pytest.raises(TypeError, match="reduction"):
        SqueezeExcitation(8, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="channels"):
        SqueezeExcitation(0)
    with pytest.raises(ValueError, match="squeeze"):
        SqueezeExcitation(8, 2, squeeze="mean")
    with pytest.raises(ValueError, match="gate"):
        SqueezeExcitation(8, 2, gate="softmax")
    se = SqueezeExcitation(8, 2)
    with pytest.raises(ValueError, match=r"x must be a 4-D tensor of shape \(B, C, H, W\)"):
        se(torch.randn(8, 4, 4))
    with pytest.raises(ValueError, match="channels is 8"):
        se(torch.randn(1, 4, 4, 4))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        se(torch.ones(1, 8, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="spatial"):
        se(torch.randn(1, 8, 0, 2))
    with pytest.raises(TypeError):
        se(torch.randn(1, 8, 2, 2), need_weights=False)  # type: ignore[call-arg]


# ------------------------------------------------------------------- residual integration


def _force_gates_to_one(module: nn.Module) -> None:
    """sigmoid(100) == 1.0 exactly in float64: every SE gate becomes 1."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, SqueezeExcitation):
                m.fc2.weight.zero_()
                m.fc2.bias.fill_(100.0)


def _copy_plain_weights(se_block: nn.Module, plain: nn.Module) -> None:
    missing, unexpected = se_block.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected
    assert missing and all(".fc" in k for k in missing)  # only SE parameters are new


@pytest.mark.parametrize("position", SE_POSITIONS)
@pytest.mark.parametrize(("in_channels", "stride"), [(16, 1), (8, 2)])
def test_se_with_gates_forced_to_one_equals_the_plain_block(
    position: str, in_channels: int, stride: int
) -> None:
    kw = {"stride": stride, "dtype": torch.float64}
    plain = Bottleneck(in_channels, 4, **kw)
    block = Bottleneck(in_channels, 4, reduction=2, position=position, **kw)
    _copy_plain_weights(block, plain)
    _force_gates_to_one(block)
    x = torch.randn(2, in_channels, 6, 5, dtype=torch.float64)
    expected = plain(x)
    out = block(x)
    assert expected.weights is None
    assert out.weights is not None and torch.equal(out.weights, torch.ones_like(out.weights))
    torch.testing.assert_close(out.context, expected.context, rtol=0, atol=0)


@pytest.mark.parametrize(
    "block_cls", [PreActBasicBlock, PreActBottleneck], ids=["basic", "bottleneck"]
)
@pytest.mark.parametrize(("in_channels", "stride"), [(16, 1), (8, 2)])
def test_preact_se_with_gates_forced_to_one_equals_the_plain_block(
    block_cls: type[nn.Module], in_channels: int, stride: int
) -> None:
    width = 16 if block_cls is PreActBasicBlock else 4
    plain = block_cls(in_channels, width, stride=stride, dtype=torch.float64)
    block = block_cls(in_channels, width, stride=stride, reduction=4, dtype=torch.float64)
    _copy_plain_weights(block, plain)
    _force_gates_to_one(block)
    x = torch.randn(2, in_channels, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(block(x).context, plain(x).context, rtol=0, atol=0)


def _manual_bottleneck(block: Bottleneck, x: torch.Tensor) -> BlockOutput:
    """The integration strategies of the SE paper (Fig. 5, Tables 14 and 15), step by step."""
    pos = block.position
    se = {
        "pre": block.se_pre,
        "3x3": block.se_3x3,
        "standard": block.se,
        "identity": block.se_identity,
        "post": block.se_post,
    }[pos]
    assert se is not None

    def branch(u):
        u = F.relu(block.bn1(block.conv1(u)))
        u = F.relu(block.bn2(block.conv2(u)))
        if pos == "3x3":
            u = se(u).context
        return block.bn3(block.conv3(u))

    identity = block.shortcut(x)
    if pos == "standard":  # relu(SE(r(x)) + x)
        return BlockOutput(F.relu(se(branch(x)).context + identity), se(branch(x)).weights)
    if pos == "pre":  # relu(r(SE(x)) + x)
        return BlockOutput(F.relu(branch(se(x).context) + identity), se(x).weights)
    if pos == "post":  # SE(relu(r(x) + x))
        return BlockOutput(*se(F.relu(branch(x) + identity)))
    if pos == "identity":  # relu(r(x) + SE(x))
        return BlockOutput(F.relu(branch(x) + se(identity).context), se(identity).weights)
    u = F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))))
    return BlockOutput(F.relu(branch(x) + identity), se(u).weights)


@pytest.mark.parametrize("position", SE_POSITIONS)
def test_integration_strategies_follow_the_paper(position: str) -> None:
    block = Bottleneck(8, 4, stride=2, reduction=2, position=position, dtype=torch.float64)
    block.eval()  # batch statistics would differ between the repeated branch calls
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64)
    out = block(x)
    expected = _manual_bottleneck(block, x)
    assert_close(out.context, expected.context)
    assert out.weights is not None and expected.weights is not None
    assert_close(out.weights, expected.weights)


@pytest.mark.parametrize(
    ("position", "se_channels"),
    [("standard", 256), ("pre", 64), ("post", 256), ("identity", 256), ("3x3", 64)],
)
def test_se_sees_the_channels_of_its_position(position: str, se_channels: int) -> None:
    block = Bottleneck(64, 64, reduction=16, position=position)
    out = block(torch.randn(2, 64, 4, 4))
    assert out.context.shape == (2, 256, 4, 4)
    assert out.weights is not None and out.weights.shape == (2, se_channels)
    se_modules = [m for m in block.modules() if isinstance(m, SqueezeExcitation)]
    assert len(se_modules) == 1 and se_modules[0].channels == se_channels


def test_bottleneck_stride_placement_and_resnext_width() -> None:
    v1 = Bottleneck(256, 128, stride=2, stride_in_1x1=True)
    v15 = Bottleneck(256, 128, stride=2, stride_in_1x1=False)
    assert v1.conv1.stride == (2, 2) and v1.conv2.stride == (1, 1)
    assert v15.conv1.stride == (1, 1) and v15.conv2.stride == (2, 2)
    x = torch.randn(1, 256, 7, 7)
    assert v1(x).context.shape == v15(x).context.shape == (1, 512, 4, 4)
    resnext = Bottleneck(64, 64, groups=32, width_per_group=4)
    assert resnext.width == 128 and resnext.conv2.groups == 32


def test_block_gradients_reach_every_parameter() -> None:
    block = Bottleneck(8, 4, stride=2, reduction=2, position="standard")
    out = block(torch.randn(2, 8, 5, 5))
    assert out.weights is not None
    (out.context.sum() + out.weights.sum()).backward()
    assert all(p.grad is not None for p in block.parameters())


def test_block_gradcheck() -> None:
    block = Bottleneck(4, 2, reduction=2, position="standard", dtype=torch.float64).eval()
    x = torch.randn(1, 4, 2, 3, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x: tuple(block(x)), [x])


def test_block_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ValueError, match="position"):
        Bottleneck(8, 4, reduction=2, position="middle")
    with pytest.raises(ValueError, match="reduction"):
        Bottleneck(8, 4, reduction=64)  # 16 channels // 64
    with pytest.raises(ValueError, match="stride"):
        Bottleneck(8, 4, stride=0)
    with pytest.raises(ValueError, match="width_per_group"):
        Bottleneck(8, 4, width_per_group=0)
    with pytest.raises(ValueError, match="channels is 8"):
        Bottleneck(8, 4)(torch.randn(1, 4, 3, 3))
    with pytest.raises(ValueError, match="out_channels"):
        PreActBasicBlock(8, 0)
