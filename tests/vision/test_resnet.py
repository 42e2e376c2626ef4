"""ResNet / ResNeXt / BN-Inception and their SE versions: sizes pinned to the papers.

Parameter and FLOP counts run on the ``meta`` device (shapes only, no memory, milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from attnlab.vision import inception, resnet
from attnlab.vision.complexity import (
    count_flops,
    count_multiply_adds,
    count_parameters,
    millions_rounded_up,
)
from attnlab.vision.inception import BNInception, bn_inception, se_bn_inception
from attnlab.vision.resnet import ClassifierOutput, PreActResNet, ResNet
from attnlab.vision.squeeze_excitation import SqueezeExcitation

META_224 = torch.empty(1, 3, 224, 224, device="meta")
STAGE_CHANNELS = {2: 256, 3: 512, 4: 1024, 5: 2048}
RESNET50_BLOCKS = {2: 3, 3: 4, 4: 6, 5: 3}


def _params(factory: Callable[..., nn.Module], *args, **kwargs) -> int:
    return count_parameters(factory(*args, device="meta", **kwargs))


def _se_parameters(reduction: int, stages=(2, 3, 4, 5)) -> int:
    """Closed form: each SE block on C channels adds W1, b1, W2, b2 = 2 C (C // r) + C // r + C."""
    total = 0
    for s in stages:
        c = STAGE_CHANNELS[s]
        total += RESNET50_BLOCKS[s] * (2 * c * (c // reduction) + c // reduction + c)
    return total


# ------------------------------------------------------------------------- parameter counts


def test_resnet50_and_se_resnet50_parameters() -> None:
    # ResNet-50 25.6M -> SE-ResNet-50 28.1M (Hu et al. 2018, Tables 2 and 10; section 4)
    plain = _params(resnet.resnet50)
    se = _params(resnet.se_resnet50)
    assert plain == 25_557_032
    assert se == 28_088_024
    assert se - plain == _se_parameters(16) == 2_530_992  # "~2.5 million additional"
    assert millions_rounded_up(plain) == 25.6
    assert millions_rounded_up(se) == 28.1


@pytest.mark.parametrize(
    ("reduction", "exact", "paper"),
    [
        (2, 45_699_240, 45.7),
        (4, 35_635_688, 35.7),
        (8, 30_603_912, 30.7),
        (16, 28_088_024, 28.1),
        (32, 26_830_080, 26.9),
    ],
)
def test_reduction_ratio_parameters_table_10(reduction: int, exact: int, paper: float) -> None:
    n = _params(resnet.se_resnet50, reduction)
    assert n == exact == 25_557_032 + _se_parameters(reduction)
    assert millions_rounded_up(n) == paper
    assert abs(n / 1e6 - paper) < 0.1


@pytest.mark.parametrize(
    ("stage", "exact", "paper"),
    [(2, 25_582_424, 25.6), (3, 25_690_280, 25.7), (4, 26_349_992, 26.4), (5, 27_136_424, None)],
)
def test_se_in_one_stage_parameters_table_13(stage: int, exact: int, paper: float | None) -> None:
    # Table 13: SE_Stage_2 / 3 / 4 = SE blocks only in conv2_x / conv3_x / conv4_x
    model = resnet.se_resnet50(stages=(stage,), device="meta")
    n = count_parameters(model)
    assert n == exact == 25_557_032 + _se_parameters(16, (stage,))
    se_blocks = [m for m in model.modules() if isinstance(m, SqueezeExcitation)]
    assert len(se_blocks) == RESNET50_BLOCKS[stage]
    assert {m.channels for m in se_blocks} == {STAGE_CHANNELS[stage]}
    if paper is not None:
        assert millions_rounded_up(n) == paper


def test_paper_millions_are_rounded_up_not_to_nearest() -> None:
    # rounding to nearest would contradict the printed 35.7 / 30.7 / 26.9 / 26.4
    assert [round(n / 1e6, 1) for n in (35_635_688, 30_603_912, 26_830_080, 26_349_992)] == [
        35.6,
        30.6,
        26.8,
        26.3,
    ]


@pytest.mark.parametrize(
    ("position", "exact"),
    [
        ("standard", 28_088_024),
        ("post", 28_088_024),
        ("identity", 28_088_024),
        ("pre", 27_562_140),  # SE on the block input: 64 / 256 / 512 / 1024 channels
        ("3x3", 25_718_228),  # SE on the 3x3 output: 64 / 128 / 256 / 512 channels
    ],
)
def test_integration_variant_parameters(position: str, exact: int) -> None:
    assert _params(resnet.se_resnet50, position=position) == exact


@pytest.mark.parametrize(
    ("name", "exact"),
    [
        ("resnet101", 44_549_160),
        ("se_resnet101", 49_326_872),
        ("resnet152", 60_192_808),
        ("se_resnet152", 66_821_848),
        ("resnext50_32x4d", 25_028_904),
        ("se_resnext50_32x4d", 27_559_896),
        ("resnet110", 1_730_522),  # 1.7M (He et al. 2016, "Identity Mappings")
        ("resnet164", 1_703_258),  # 1.7M
        ("se_resnet110", 1_744_760),
        ("se_resnet164", 1_905_362),
    ],
)
def test_other_model_parameters(name: str, exact: int) -> None:
    assert _params(getattr(resnet, name)) == exact


def test_bn_inception_parameters() -> None:
    plain = _params(bn_inception)
    se = _params(se_bn_inception)
    assert plain == 11_285_224
    assert se == 11_931_622


# ------------------------------------------------------------------------------------ FLOPs


def test_flop_counter_convention() -> None:
    # FlopCounterMode counts 2 FLOPs per multiply-add of convolutions and linear layers
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False, device="meta")
    x = torch.empty(2, 3, 5, 5, device="meta")
    assert count_flops(conv, x) == 2 * (2 * 4 * 5 * 5) * (3 * 3 * 3)


def test_resnet50_gflops_3_86_to_3_87() -> None:
    # Hu et al. 2018, Table 2 / section 4: ResNet-50 3.86 -> SE-ResNet-50 3.87 GFLOPs (224 x 224)
    plain_flops = count_flops(resnet.resnet50(device="meta"), META_224)
    se_model = resnet.se_resnet50(device="meta")
    se_flops = count_flops(se_model, META_224)
    assert plain_flops == 7_715_946_496
    assert se_flops == 7_720_976_384  # + 2 x 2,514,944: the excitation's FC layers only
    assert round(plain_flops / 2e9, 2) == 3.86
    # the counter misses the squeeze (1 add / element) and the scaling (1 multiply / element)
    gated = sum(
        2 * n * STAGE_CHANNELS[s] * (56 // 2 ** (s - 2)) ** 2 for s, n in RESNET50_BLOCKS.items()
    )
    assert gated == 11_038_720
    assert count_multiply_adds(resnet.resnet50(device="meta"), META_224) == 3_857_973_248
    assert count_multiply_adds(se_model, META_224) == se_flops // 2 + gated == 3_871_526_912
    assert count_multiply_adds(se_model, META_224, gating=False) == se_flops // 2
    assert round(count_multiply_adds(se_model, META_224) / 1e9, 2) == 3.87


def test_gating_count_is_the_same_for_fused_and_unfused_positions() -> None:
    # "standard" fuses the scaling with the summation, "post" / "identity" call the SE block
    counts = {
        p: count_multiply_adds(resnet.se_resnet50(position=p, device="meta"), META_224)
        for p in ("standard", "post", "identity")
    }
    assert len(set(counts.values())) == 1
    model = resnet.se_resnet50(device="meta")
    count_multiply_adds(model, META_224)
    assert all("channel_gates" not in m.__dict__ for m in model.modules())  # wrapper removed


def test_stride_placement_gives_the_paper_resnet50() -> None:
    # stride on the 3x3 convolution ("ResNet v1.5") costs 4.09 GFLOPs, not the paper's 3.86
    v15 = ResNet((3, 4, 6, 3), stride_in_1x1=False, device="meta")
    assert round(count_multiply_adds(v15, META_224) / 1e9, 2) == 4.09


def test_bn_inception_gflops_2_03_to_2_04() -> None:
    # Hu et al. 2018, Table 2: BN-Inception 2.03 -> SE-BN-Inception 2.04 GFLOPs
    assert count_multiply_adds(bn_inception(device="meta"), META_224) == 2_032_600_064
    assert count_multiply_adds(se_bn_inception(device="meta"), META_224) == 2_035_600_832
    assert round(2_032_600_064 / 1e9, 2) == 2.03
    assert round(2_035_600_832 / 1e9, 2) == 2.04


@pytest.mark.parametrize(
    ("name", "multiply_adds"),
    [
        # the SE paper prints 7.58 / 7.60 / 11.30 / 11.32 / 4.24 / 4.25: 0.01-0.02 above these
        ("resnet101", 7_570_194_432),
        ("se_resnet101", 7_592_800_256),
        ("resnet152", 11_282_415_616),
        ("se_resnet152", 11_315_286_016),
        ("resnext50_32x4d", 4_230_479_872),
        ("se_resnext50_32x4d", 4_244_033_536),
    ],
)
def test_deeper_model_multiply_adds(name: str, multiply_adds: int) -> None:
    assert count_multiply_adds(getattr(resnet, name)(device="meta"), META_224) == multiply_adds


# ------------------------------------------------------------------- forward and backward

IMAGENET_MODELS = [
    "resnet50",
    "se_resnet50",
    "resnext50_32x4d",
    "se_resnext50_32x4d",
    pytest.param("resnet101", marks=pytest.mark.slow),
    pytest.param("se_resnet101", marks=pytest.mark.slow),
    pytest.param("resnet152", marks=pytest.mark.slow),
    pytest.param("se_resnet152", marks=pytest.mark.slow),
    "bn_inception",
    "se_bn_inception",
]
CIFAR_MODELS = ["resnet110", "se_resnet110", "resnet164", "se_resnet164"]
EXPECTED_GATES = {
    "se_resnet50": [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3,
    "se_resnext50_32x4d": [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3,
    "se_resnet101": [256] * 3 + [512] * 4 + [1024] * 23 + [2048] * 3,
    "se_resnet152": [256] * 3 + [512] * 8 + [1024] * 36 + [2048] * 3,
    "se_bn_inception": [256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024],
    "se_resnet110": [16] * 18 + [32] * 18 + [64] * 18,
    "se_resnet164": [64] * 18 + [128] * 18 + [256] * 18,
}


def _factory(name: str) -> Callable[..., nn.Module]:
    return getattr(inception, name) if "inception" in name else getattr(resnet, name)


def _check_forward_backward(name: str, x: torch.Tensor, num_classes: int) -> None:
    torch.manual_seed(0)
    model = _factory(name)(num_classes=num_classes)
    out = model(x)
    assert isinstance(out, ClassifierOutput)
    assert out.logits.shape == (x.shape[0], num_classes)
    assert [g.shape[1] for g in out.gates] == EXPECTED_GATES.get(name, [])
    assert all(((g > 0) & (g < 1)).all() for g in out.gates)
    loss = out.logits.square().sum() + sum(g.sum() for g in out.gates)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", IMAGENET_MODELS)
def test_imagenet_models_forward_backward(name: str) -> None:
    # 32 x 32: the last stage is 1 x 1, two images give batch statistics two values
    _check_forward_backward(name, torch.randn(2, 3, 32, 32), num_classes=7)


@pytest.mark.parametrize("name", CIFAR_MODELS)
def test_cifar_models_forward_backward(name: str) -> None:
    _check_forward_backward(name, torch.randn(2, 3, 32, 32), num_classes=10)


# ------------------------------------------------------- SE with gates of 1 is the plain model


def _force_gates_to_one(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, SqueezeExcitation):
                m.fc2.weight.zero_()
                m.fc2.bias.fill_(100.0)  # sigmoid(100) == 1.0 in float64


@pytest.mark.parametrize(
    "build",
    [
        lambda **kw: ResNet((1, 1, 1, 1), num_classes=5, **kw),
        lambda **kw: ResNet((1, 1, 1, 1), num_classes=5, groups=4, width_per_group=8,
                            stride_in_1x1=False, **kw),
        lambda **kw: PreActResNet(20, num_classes=5, **kw),
        lambda **kw: PreActResNet(11, bottleneck=True, num_classes=5, **kw),
        lambda **kw: BNInception(num_classes=5, **kw),
    ],
    ids=["resnet", "resnext", "preact-basic", "preact-bottleneck", "bn-inception"],
)
def test_se_model_with_gates_forced_to_one_equals_the_plain_model(build) -> None:
    plain = build(dtype=torch.float64).eval()
    se = build(reduction=4, dtype=torch.float64).eval()
    missing, unexpected = se.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(".fc" in k for k in missing)
    _force_gates_to_one(se)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    expected, out = plain(x), se(x)
    assert expected.gates == () and len(out.gates) > 0
    torch.testing.assert_close(out.logits, expected.logits, rtol=0, atol=0)


# ------------------------------------------------------------------------------- options


def test_stages_and_positions_select_the_se_blocks() -> None:
    model = ResNet((2, 2, 2, 2), num_classes=3, reduction=16, stages=(3, 5), position="pre")
    out = model(torch.randn(2, 3, 64, 64))
    # SE-PRE sees the block input: 256 then 512 channels in stage 3, 1024 then 2048 in stage 5
    assert [g.shape for g in out.gates] == [(2, 256), (2, 512), (2, 1024), (2, 2048)]
    model = resnet.se_resnet50(squeeze="max", gate="tanh", device="meta")
    se = model.stage4[0].se
    assert se is not None and se.squeeze == "max" and isinstance(se.gate, nn.Tanh)


def test_plain_model_has_no_gates_and_eval_is_deterministic() -> None:
    model = ResNet((1, 1, 1, 1), num_classes=4).eval()
    x = torch.randn(2, 3, 48, 40)
    a, b = model(x), model(x)
    assert a.gates == () and torch.equal(a.logits, b.logits)


def test_models_accept_device_and_dtype(device: torch.device) -> None:
    model = PreActResNet(8, num_classes=3, reduction=4, device=device, dtype=torch.float64)
    out = model(torch.randn(1, 3, 16, 16, device=device, dtype=torch.float64))
    assert out.logits.dtype == torch.float64 and out.logits.device.type == device.type


def test_model_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ValueError, match="layers"):
        ResNet((3, 4, 6))
    with pytest.raises(ValueError, match="stages"):
        resnet.se_resnet50(stages=(1,), device="meta")
    with pytest.raises(ValueError, match="stages"):
        resnet.se_resnet50(stages=(), device="meta")
    with pytest.raises(ValueError, match="position"):
        resnet.se_resnet50(position="middle", device="meta")
    with pytest.raises(ValueError, match="reduction"):
        resnet.se_resnet50(512, device="meta")  # 256 // 512 == 0 hidden units in stage 2
    with pytest.raises(ValueError, match="reduction"):
        resnet.se_resnet50(0, device="meta")
    with pytest.raises(ValueError, match="depth"):
        PreActResNet(100)
    with pytest.raises(ValueError, match="depth"):
        PreActResNet(21, bottleneck=True)
    with pytest.raises(ValueError, match="num_classes"):
        resnet.resnet110(num_classes=0)
    model = ResNet((1, 1, 1, 1), num_classes=2)
    with pytest.raises(ValueError, match=r"x must be a 4-D tensor of shape \(B, C, H, W\)"):
        model(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match="channels is 3"):
        model(torch.randn(1, 1, 32, 32))
