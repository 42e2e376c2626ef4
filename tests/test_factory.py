"""Attention by name: ``attnlab.vision.create_attn`` for the channel attention of a convolutional
block (inserted into a torchvision-style ResNet here), ``attnlab.create`` for every registered
mechanism, and the page docs/ecosystem.md, whose examples run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import attnlab
from attnlab.core.init_args import init_config, is_recorded, recording_init_args
from attnlab.core.registry import UnknownNameError
from attnlab.vision import (
    ATTENTION_LAYERS,
    CBAM,
    ECA,
    SCSE,
    ContextOnly,
    GatherExcite,
    SqueezeExcitation,
    create_attn,
)

ROOT = Path(__file__).resolve().parents[1]
NAMES = list(ATTENTION_LAYERS)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_the_names_and_their_classes() -> None:
    assert dict(ATTENTION_LAYERS) == {
        "se": SqueezeExcitation, "eca": ECA, "cbam": CBAM, "scse": SCSE, "ge": GatherExcite,
    }


def test_se_matches_the_class() -> None:
    se = create_attn("se", 64)
    reference = SqueezeExcitation(64)
    assert type(se) is SqueezeExcitation
    assert _count(se) == _count(reference) == 2 * 64 * 4 + 4 + 64  # r = 16: 4 hidden units
    assert {k: v.shape for k, v in se.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }


def test_keywords_reach_the_module() -> None:
    cbam = create_attn("cbam", 32, reduction=8, kernel_size=3)
    assert (cbam.hidden_dim, cbam.kernel_size) == (4, 3)
    assert create_attn("eca", 64, kernel_size=5).kernel_size == 5
    assert create_attn("ge", 32, extent=2).extent == 2
    assert init_config(create_attn("scse", 16, reduction=4)) == {"channels": 16, "reduction": 4}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [16, 32])
def test_every_name_builds_and_runs(name: str, channels: int) -> None:
    module = create_attn(name, channels)
    x = torch.randn(2, channels, 8, 8)
    out = module(x)
    assert out.context.shape == x.shape
    assert out.weights.shape[:2] == (2, channels) and bool((out.weights >= 0).all())
    assert is_recorded(module)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        create_attn("cbma", 64)
    message = str(info.value)
    assert message.startswith("unknown channel attention 'cbma'; did you mean 'cbam'")
    assert message.endswith("(known: se, eca, cbam, scse, ge)")
    assert isinstance(info.value, KeyError)


def test_unknown_keywords_and_bad_channels_are_refused() -> None:
    with pytest.raises(TypeError, match=r"^create_attn\('se'\) got an unexpected keyword "
                                        r"argument 'reduce'; did you mean 'reduction'\?"):
        create_attn("se", 64, reduce=8)
    for bad in (0, -3, 2.0, True):
        with pytest.raises(ValueError, match="channels must be a positive int"):
            create_attn("ge", bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# a torchvision-style ResNet with an ``attn`` slot


class BasicBlock(nn.Module):
    """torchvision's BasicBlock with the attention after the second convolution (SE-ResNet)."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1, *,
                 attn: str | None = None, **attn_kwargs: Any) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.attn = None if attn is None else create_attn(attn, channels, **attn_kwargs)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.attn is not None:
            out = self.attn(out).context
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + identity)


class TinyResNet(nn.Module):
    def __init__(self, num_classes: int = 10, *, attn: str | None = "se") -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
                                  nn.ReLU())
        self.layers = nn.Sequential(BasicBlock(16, 16, attn=attn),
                                    BasicBlock(16, 32, stride=2, attn=attn))
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.layers(self.stem(x)).mean(dim=(2, 3)))


@pytest.mark.parametrize("name", NAMES)
def test_every_name_fits_the_resnet_slot_and_learns(name: str) -> None:
    torch.manual_seed(0)
    model = TinyResNet(attn=name)
    logits = model(torch.randn(2, 3, 16, 16))
    assert logits.shape == (2, 10)
    logits.square().sum().backward()
    attention = [p for block in model.layers for p in block.attn.parameters()]
    assert all(p.grad is not None for p in attention)  # in the graph (a ReLU may be dead)
    assert sum(float(p.grad.abs().sum()) for p in attention if p.grad is not None) > 0 or (
        name == "ge"
    )
    assert (len(attention) == 0) == (name == "ge")  # GE-theta- has no parameters


def test_se_in_the_slot_scales_the_residual_branch() -> None:
    """SE with a zeroed last layer gates every channel by sigmoid(0) = 1/2: the block equals
    the plain block whose last batch norm is halved."""
    torch.manual_seed(0)
    with_se = BasicBlock(8, 8, attn="se", reduction=2).eval()
    assert isinstance(with_se.attn, SqueezeExcitation)
    with torch.no_grad():
        with_se.attn.fc2.weight.zero_()
        with_se.attn.fc2.bias.zero_()
        for p in (with_se.bn2.weight, with_se.bn2.bias):
            p.uniform_(0.5, 1.5)
    plain = BasicBlock(8, 8).eval()
    plain.load_state_dict(with_se.state_dict(), strict=False)
    with torch.no_grad():
        plain.bn2.weight.mul_(0.5)
        plain.bn2.bias.mul_(0.5)
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(with_se(x), plain(x))


def test_context_only_fits_a_sequential() -> None:
    eca = create_attn("eca", 16)
    stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), ContextOnly(eca))
    x = torch.randn(2, 3, 8, 8)
    out = stem(x)
    assert isinstance(out, Tensor) and out.shape == (2, 16, 8, 8)
    torch.testing.assert_close(out, eca(stem[0](x)).context)


# ---------------------------------------------------------------------------------------------
# attnlab.create: every registered mechanism by name


ENTRIES = attnlab.list_mechanisms()


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_create_builds_every_mechanism_from_its_examples_arguments(entry: Any) -> None:
    with recording_init_args():
        example, args, kwargs = entry.example()
    arguments = init_config(example)
    created = attnlab.create(entry.name, **arguments)
    assert type(created) is entry.cls and is_recorded(created)
    assert init_config(created) == arguments
    assert {k: v.shape for k, v in created.state_dict().items()} == {
        k: v.shape for k, v in example.state_dict().items()
    }
    created.load_state_dict(example.state_dict())
    created.eval(), example.eval()
    torch.manual_seed(0)
    _, args, kwargs = entry.example()
    with torch.no_grad():
        got = created(*args, **kwargs)
    torch.manual_seed(0)
    _, args, kwargs = entry.example()
    with torch.no_grad():
        expected = example(*args, **kwargs)
    torch.testing.assert_close(got.context, expected.context, rtol=0, atol=0)


def test_create_refuses_unknown_names_and_keywords() -> None:
    with pytest.raises(KeyError, match=r"unknown mechanism 'multihed'; did you mean "
                                       r"'multihead'\? \(known: additive, "):
        attnlab.create("multihed", dim=8, num_heads=2)
    with pytest.raises(TypeError, match=r"^mechanism 'multihead' \(MultiHeadAttention\) got an "
                                        r"unexpected keyword argument 'heads'; did you mean "
                                        r"'num_heads'\?"):
        attnlab.create("multihead", dim=8, heads=2)
    with pytest.raises(TypeError, match="missing"):
        attnlab.create("multihead", num_heads=2)


def test_created_modules_save_without_a_config(tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    cosine = attnlab.create("cosine", query_dim=4, learnable_sharpening=True)
    attnlab.save_pretrained(cosine, tmp_path)  # read from attributes, this module is refused
    loaded = attnlab.from_pretrained(tmp_path)
    assert torch.equal(loaded.state_dict()["score.log_sharpening"],
                       cosine.state_dict()["score.log_sharpening"])


# ---------------------------------------------------------------------------------------------
# docs/ecosystem.md


def test_the_ecosystem_page_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("safetensors")
    monkeypatch.chdir(tmp_path)
    page = ROOT / "docs" / "ecosystem.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert len(blocks) >= 6
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    saved = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert saved == ["additive", "classifier", "mha", "resnet-cbam", "seq2seq"]
    for folder in saved:
        assert {p.name for p in (tmp_path / "checkpoints" / folder).iterdir()} == {
            "config.json", "model.safetensors",
        }
    assert isinstance(namespace["TinyResNet"].from_pretrained("checkpoints/resnet-cbam")
                      .layer1.attn, CBAM)
