"""Device agreement: an input or mask on another device is a clear error, never a silent result.

Every registered mechanism and every architecture is called with one tensor argument (an input,
a mask, an index tensor) moved to the ``meta`` device, which stands for "a second device" on a
machine without an accelerator. The call must raise a ``ValueError`` / ``RuntimeError`` whose
message names that argument and the device ``meta``, e.g. ``"key is on meta but query is on
cpu: move them to one device"``; a raw torch error or a result on ``meta`` fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import attnlab
from attnlab.architectures import (
    GAT,
    CoAttentionVQA,
    DecoderOnlyTransformer,
    EncoderOnlyTransformer,
    FlatAttentionNetwork,
    HierarchicalAttentionNetwork,
    MemN2N,
    NoAttentionVQA,
    PointerNetwork,
    Seq2Seq,
    Transformer,
)
from attnlab.core.checks import check_mask, check_tensor
from attnlab.data.babi import parse_babi
from attnlab.data.errors import DataError
from attnlab.train.checkpoint import load_checkpoint
from helpers import forward_argument_names

ENTRIES = attnlab.list_mechanisms()
META = torch.device("meta")
Example = tuple[nn.Module, tuple[Any, ...], dict[str, Any]]


def _seq2seq() -> Example:
    model = Seq2Seq(9, 7, embed_dim=5, hidden_dim=6, attention="additive")
    src = torch.randint(1, 9, (2, 5))
    return model, (src, torch.tensor([5, 3]), torch.randint(1, 7, (2, 4))), {}


def _transformer() -> Example:
    model = Transformer(9, 9, dim=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1,
                        hidden_dim=12, dropout=0.0, pad_index=0)
    src, tgt = torch.randint(1, 9, (2, 5)), torch.randint(1, 9, (2, 4))
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    return model, (src, tgt), {"src_mask": mask, "tgt_mask": torch.ones(2, 4, dtype=torch.bool)}


def _decoder_only() -> Example:
    model = DecoderOnlyTransformer(9, dim=8, num_heads=2, num_layers=1, hidden_dim=12)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    return model, (torch.randint(1, 9, (2, 5)),), {"mask": mask}


def _encoder_only() -> Example:
    model = EncoderOnlyTransformer(9, dim=8, num_heads=2, num_layers=1, hidden_dim=12)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    return model, (torch.randint(1, 9, (2, 5)),), {"mask": mask}


def _pointer() -> Example:
    model = PointerNetwork(2, 6)
    mask = torch.tensor([[True] * 4, [True, True, True, False]])
    targets = torch.tensor([[0, 1, 2, 3], [2, 1, 0, -100]])
    return model, (torch.rand(2, 4, 2), targets), {"mask": mask}


def _memn2n() -> Example:
    model = MemN2N(12, dim=6, num_hops=2, memory_size=5)
    story = torch.randint(1, 12, (2, 5, 4))
    time = torch.arange(5).flip(0).expand(2, 5).contiguous()
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    return model, (story, torch.randint(1, 12, (2, 3))), {"time": time, "mask": mask}


def _han(cls: type[nn.Module]) -> Callable[[], Example]:
    def make() -> Example:
        model = cls(30, 3, embed_dim=6, hidden_dim=4, attention_dim=5)
        mask = torch.ones(2, 3, 4, dtype=torch.bool)
        mask[1, 2] = False
        return model, (torch.randint(1, 30, (2, 3, 4)) * mask,), {"mask": mask}

    return make


def _gat() -> Example:
    adjacency = torch.rand(6, 6, generator=torch.Generator().manual_seed(0)) < 0.5
    adjacency.fill_diagonal_(True)
    return GAT(4, 3, hidden_dim=4, num_heads=2), (torch.randn(6, 4),), {"adjacency": adjacency}


def _vqa(cls: type[nn.Module]) -> Callable[[], Example]:
    def make() -> Example:
        sizes: dict[str, Any] = {"channels": (4, 6), "embed_dim": 5, "question_dim": 6}
        if cls is CoAttentionVQA:
            sizes.update(attention_dim=4, hidden_dim=8)
        else:
            sizes.update(image_size=(16, 16), hidden_dims=(8,))
        model = cls(10, vocab_size=20, question_format="tokens", **sizes)
        mask = torch.tensor([[True] * 4, [True, True, False, False]])
        question = torch.randint(1, 20, (2, 4))
        return model, (torch.rand(2, 3, 16, 16), question), {"question_mask": mask}

    return make


ARCHITECTURES: dict[str, Callable[[], Example]] = {
    "seq2seq": _seq2seq,
    "transformer": _transformer,
    "decoder_only_transformer": _decoder_only,
    "encoder_only_transformer": _encoder_only,
    "pointer_network": _pointer,
    "memn2n": _memn2n,
    "han": _han(HierarchicalAttentionNetwork),
    "flat_attention_network": _han(FlatAttentionNetwork),
    "gat": _gat,
    "coattention_vqa": _vqa(CoAttentionVQA),
    "no_attention_vqa": _vqa(NoAttentionVQA),
}


def _factory(name: str) -> Callable[[], Example]:
    if name in ARCHITECTURES:
        return ARCHITECTURES[name]
    entry = next(e for e in ENTRIES if e.name == name)
    return lambda: entry.example()


def _cases() -> list[Any]:
    """``(model, position or keyword, argument name)`` for every tensor argument of every model,
    where a second device can disagree (another tensor argument or a parameter)."""
    cases = []
    for name in [e.name for e in ENTRIES] + list(ARCHITECTURES):
        module, args, kwargs = _factory(name)()
        tensors = [a for a in args if isinstance(a, Tensor)]
        tensors += [v for v in kwargs.values() if isinstance(v, Tensor)]
        has_state = any(True for _ in module.parameters()) or any(True for _ in module.buffers())
        if len(tensors) < 2 and not has_state:
            continue  # nothing to disagree with
        names = forward_argument_names(module, len(args))
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                cases.append(pytest.param(name, i, names[i], id=f"{name}/{names[i]}"))
        for key, v in kwargs.items():
            if isinstance(v, Tensor):
                cases.append(pytest.param(name, key, key, id=f"{name}/{key}"))
    return cases


CASES = _cases()


def _call_with_meta(name: str, which: int | str) -> Any:
    module, args, kwargs = _factory(name)()
    module.eval()
    args = list(args)
    if isinstance(which, int):
        args[which] = args[which].to(META)
    else:
        kwargs[which] = kwargs[which].to(META)
    return module(*args, **kwargs)


def classify(name: str, which: int | str, arg: str) -> tuple[str, str]:
    """``("clear" | "unclear" | "silent", message)`` for one argument moved to ``meta``."""
    try:
        _call_with_meta(name, which)
    except (ValueError, RuntimeError) as error:
        message = str(error)
        named = re.search(rf"(?<![\w\[]){re.escape(arg)}(?![\w\[])", message) is not None
        if not isinstance(error, NotImplementedError) and named and "meta" in message:
            return "clear", message
        return "unclear", f"{type(error).__name__}: {message}"
    except Exception as error:
        return "unclear", f"{type(error).__name__}: {error}"
    return "silent", "no error"


@pytest.mark.parametrize(("name", "which", "arg"), CASES)
def test_argument_on_another_device_is_a_clear_error(name: str, which: int | str,
                                                     arg: str) -> None:
    verdict, message = classify(name, which, arg)
    assert verdict == "clear", message


def test_the_sweep_covers_every_mechanism_and_architecture() -> None:
    covered = {p.values[0] for p in CASES}
    assert set(ARCHITECTURES) <= covered
    # skipped: a single input and no parameter or buffer (gather_excite's example): nothing to
    # disagree with, the module follows its input's device
    stateless = {e.name for e in ENTRIES
                 if not any(True for _ in e.example()[0].parameters())
                 and not any(True for _ in e.example()[0].buffers())}
    assert {e.name for e in ENTRIES} - stateless <= covered
    assert len(CASES) >= 2 * (len(ENTRIES) + len(ARCHITECTURES))


def test_message_names_both_devices() -> None:
    query = torch.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=r"^key is on meta but query is on cpu: move them"):
        check_tensor(query.to(META), "key", ndim=3, layout="(B, Lk, Dk)", like=("query", query))
    with pytest.raises(ValueError, match=r"^mask is on meta but query is on cpu"):
        check_mask(torch.ones(2, 4, dtype=torch.bool, device=META), batch=2, q_len=3, k_len=4,
                   like=("query", query))
    linear = nn.Linear(4, 4)
    with pytest.raises(ValueError, match=r"^x is on meta but the module's parameters are on cpu"):
        check_tensor(query.to(META), "x", ndim=3, layout="(B, L, D)", like=("", linear))


def test_agreeing_devices_pass_and_parameter_free_modules_follow_the_input() -> None:
    module, args, kwargs = _factory("dot")()
    out = module(*[a.to(META) for a in args],
                 **{k: v.to(META) if isinstance(v, Tensor) else v for k, v in kwargs.items()})
    assert out.context.device == META


def test_dtype_mismatch_with_parameters_keeps_torchs_error() -> None:
    """Policy: a float64 input to a float32 module raises PyTorch's own dtype error."""
    module, args, kwargs = _factory("general")()
    with pytest.raises(RuntimeError, match="dtype|Double|Float"):
        module(*[a.double() for a in args], **kwargs)


# ---------------------------------------------------------------------------------------------
# smaller gaps: empty batches, caller-named Transformer errors, MemN2N time range, empty bAbI
# files, checkpoint directories

@pytest.mark.parametrize("name", sorted(set(ARCHITECTURES) - {"gat"}))
def test_architecture_handles_an_empty_batch(name: str) -> None:
    model, args, kwargs = ARCHITECTURES[name]()
    model.eval()
    args = tuple(a[:0] for a in args)
    kwargs = {k: v[:0] for k, v in kwargs.items()}
    out = model(*args, **kwargs)
    tensors = [t for t in out if isinstance(t, torch.Tensor)]
    assert tensors and all(t.shape[0] == 0 for t in tensors)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_pointer_network_decodes_an_empty_batch(beam_size: int) -> None:
    model, (inputs, *_), _ = ARCHITECTURES["pointer_network"]()
    out = model.decode(inputs[:0], beam_size=beam_size)
    assert out.pointers.shape == (0, 0) and out.weights.shape[:2] == (0, 0)
    assert out.log_likelihood.shape == (0,)


def test_transformer_errors_name_the_callers_arguments() -> None:
    model, (src, tgt), _ = ARCHITECTURES["transformer"]()
    with pytest.raises(ValueError, match=r"^src_mask "):
        model(src, tgt, src_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"^tgt_mask "):
        model(src, tgt, tgt_mask=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"^tgt must have the batch size of src \(2\), got 1"):
        model(src, tgt[:1])


@pytest.mark.parametrize("bad", [99, -1])
def test_memn2n_refuses_out_of_range_time(bad: int) -> None:
    model, args, kwargs = ARCHITECTURES["memn2n"]()
    kwargs["time"] = kwargs["time"].clone()
    kwargs["time"][0, 0] = bad
    with pytest.raises(ValueError, match=r"^time must hold temporal indices in \[0, \d+\]"):
        model(*args, **kwargs)


@pytest.mark.parametrize("text", ["", "1 Mary went home.\n2 Bob ran.\n"])
def test_babi_without_questions_is_a_data_error(text: str) -> None:
    with pytest.raises(DataError, match=r"^qa1\.txt: the bAbI file"):
        parse_babi(text, source="qa1.txt")


def test_load_checkpoint_on_a_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_checkpoint(tmp_path)
