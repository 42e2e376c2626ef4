"""save_pretrained / from_pretrained: the Hub folder layout (config.json + model.safetensors),
exact round trips for every registered mechanism and every architecture, and clear refusals.

Every module is saved, loaded and compared: the state dicts bit-identical (names, dtypes,
values) and the outputs in eval mode identical on the example inputs. The modules are built
inside ``recording_init_args()`` (their constructor arguments recorded) and, separately, as
users build them, where the arguments are read back from attributes: that must round-trip
exactly or be refused, never give a different module.
"""

from __future__ import annotations

import copy
import json
import pickle
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import attnlab
from attnlab.core.init_args import (
    ConfigError,
    build,
    decode_value,
    encode_value,
    init_config,
    recording_init_args,
    remember_init,
)
from attnlab.core.serialization import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    PretrainedMixin,
    from_pretrained,
    save_pretrained,
)
from attnlab.mechanisms import AdditiveAttention, Attention, FeatureWiseAttention
from attnlab.vision import ECA, SCSE, SqueezeExcitation
from reliability.test_devices import ARCHITECTURES

safetensors_torch = pytest.importorskip("safetensors.torch")

Example = tuple[nn.Module, tuple[Any, ...], dict[str, Any]]
BUILDERS: dict[str, Callable[[], Example]] = {
    **{entry.name: entry.example for entry in attnlab.list_mechanisms()},
    **ARCHITECTURES,
}
MECHANISMS = [entry.name for entry in attnlab.list_mechanisms()]

# Built from attributes alone, these round-trip without recorded arguments: the common case
# of a module built directly and saved, pinned so that it keeps working.
READ_FROM_ATTRIBUTES = {
    "alternating_coattention", "attention_over_attention", "attention_via_attention", "cbam",
    "contextual_meta_embedding", "dot", "eca", "feature_wise", "gather_excite", "general",
    "graph_attention", "meta_embedding", "multihead", "parallel_coattention", "scaled_dot",
    "scse", "sliding_window", "squeeze_excitation", "structured_self_attention",
    "decoder_only_transformer", "encoder_only_transformer", "memn2n", "pointer_network",
    "seq2seq",
}


def _example(name: str, *, record: bool) -> Example:
    torch.manual_seed(0)  # the same inputs (and a fresh generator argument) on every call
    if record:
        with recording_init_args():
            return BUILDERS[name]()
    return BUILDERS[name]()


def _assert_identical(a: Any, b: Any, where: str = "output") -> None:
    if isinstance(a, Tensor):
        assert isinstance(b, Tensor) and a.dtype == b.dtype, where
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True, msg=where)
    elif isinstance(a, tuple | list):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_identical(a[key], b[key], f"{where}[{key!r}]")
    else:
        assert a == b, where


def _assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        assert torch.equal(sa[key], sb[key]), key


def _round_trip(name: str, folder: Path, *, record: bool) -> None:
    module, args, kwargs = _example(name, record=record)
    module.eval()
    save_pretrained(module, folder)
    loaded = from_pretrained(folder, cls=type(module))
    assert type(loaded) is type(module) and not loaded.training
    _assert_same_state(module, loaded)
    _, args, kwargs = _example(name, record=False)
    with torch.no_grad():
        expected = module(*args, **kwargs)
    _, args, kwargs = _example(name, record=False)
    with torch.no_grad():
        _assert_identical(loaded(*args, **kwargs), expected)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_round_trip_is_exact(name: str, tmp_path: Path) -> None:
    _round_trip(name, tmp_path, record=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]


@pytest.mark.parametrize("name", list(BUILDERS))
def test_arguments_read_from_attributes_round_trip_or_are_refused(name: str,
                                                                   tmp_path: Path) -> None:
    if name in READ_FROM_ATTRIBUTES:
        _round_trip(name, tmp_path, record=False)
        return
    # the others keep some argument under another name, or not at all: refused before
    # anything is written (or, once they expose it, exact)
    cls = type(_example(name, record=False)[0])
    try:
        _round_trip(name, tmp_path, record=False)
    except ConfigError as error:
        assert str(error).startswith(f"cannot save {cls.__name__}")
        assert "recording_init_args" in str(error)
        assert not (tmp_path / CONFIG_NAME).exists()


def test_the_sweep_covers_every_mechanism_and_architecture() -> None:
    assert set(MECHANISMS) <= set(BUILDERS) and set(ARCHITECTURES) <= set(BUILDERS)
    assert len(MECHANISMS) >= 25 and len(ARCHITECTURES) >= 10
    assert set(BUILDERS) >= READ_FROM_ATTRIBUTES


def test_config_names_the_class_and_its_arguments(tmp_path: Path) -> None:
    # the gate's name is no attribute called ``gate``: built directly, the module is refused
    with pytest.raises(ConfigError, match="gate_name: 'tanh' in the module, 'sigmoid' rebuilt"):
        save_pretrained(SqueezeExcitation(64, reduction=8, gate="tanh"), tmp_path)
    save_pretrained(build(SqueezeExcitation, 64, reduction=8, gate="tanh"), tmp_path)
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert config["_attnlab_class"] == "attnlab.vision.squeeze_excitation:SqueezeExcitation"
    assert config["_attnlab_version"] == attnlab.__version__
    assert {k: v for k, v in config.items() if not k.startswith("_")} == {
        "channels": 64, "reduction": 8, "gate": "tanh",
    }
    # no class argument: the class comes from config.json (an attnlab class)
    loaded = from_pretrained(tmp_path)
    assert isinstance(loaded, SqueezeExcitation) and loaded.gate_name == "tanh"


def test_a_loaded_module_saves_to_the_same_bytes(tmp_path: Path) -> None:
    module, *_ = _example("spatial_transformer", record=True)
    save_pretrained(module, tmp_path / "a")
    save_pretrained(from_pretrained(tmp_path / "a"), tmp_path / "b")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


# ---------------------------------------------------------------------------------------------
# the Hub's folder layout, offline


def _safetensors_header(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header: dict[str, Any] = json.loads(data[8:8 + length])
    return header


def test_the_weights_file_is_plain_safetensors(tmp_path: Path) -> None:
    module = SqueezeExcitation(16, reduction=4)
    save_pretrained(module, tmp_path)
    header = _safetensors_header(tmp_path / WEIGHTS_NAME)
    assert header.pop("__metadata__") == {"format": "pt"}
    assert sorted(header) == sorted(module.state_dict())
    assert header["fc1.weight"]["dtype"] == "F32" and header["fc1.weight"]["shape"] == [4, 16]
    read = safetensors_torch.load_file(tmp_path / WEIGHTS_NAME)
    assert all(torch.equal(read[k], v) for k, v in module.state_dict().items())


def test_a_hub_snapshot_folder_laid_out_by_hand_loads(tmp_path: Path) -> None:
    """A folder as a Hub download leaves it: written by other tools, with extra files."""
    torch.manual_seed(1)
    module = ECA(32, kernel_size=5)
    safetensors_torch.save_file(module.state_dict(), tmp_path / WEIGHTS_NAME,
                                metadata={"format": "pt"})
    (tmp_path / CONFIG_NAME).write_text(json.dumps(
        {"_attnlab_class": "attnlab.vision.channel_attention:ECA", "channels": 32,
         "kernel_size": 5}))
    (tmp_path / "README.md").write_text("---\nlibrary_name: attnlab\n---\n")
    (tmp_path / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    loaded = from_pretrained(str(tmp_path), cls=ECA)
    _assert_same_state(module, loaded)


def test_nothing_is_unpickled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module, *_ = _example("seq2seq", record=True)
    save_pretrained(module, tmp_path)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle used")

    for target, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"),
                         (torch, "load")):
        monkeypatch.setattr(target, name, refuse)
    _assert_same_state(module, from_pretrained(tmp_path))


# ---------------------------------------------------------------------------------------------
# what the state dict does not say: ties, dtypes, random streams, wrappers


def test_tied_weights_are_stored_once_and_stay_tied(tmp_path: Path) -> None:
    with recording_init_args():
        model = attnlab.Transformer(9, 9, dim=8, num_heads=2, num_layers=1, hidden_dim=12,
                                    share_embeddings=True, tie_output=True)
    save_pretrained(model, tmp_path)
    names = set(_safetensors_header(tmp_path / WEIGHTS_NAME)) - {"__metadata__"}
    assert "src_embedding.weight" in names and "tgt_embedding.weight" not in names
    loaded = from_pretrained(tmp_path, cls=attnlab.Transformer)
    assert loaded.src_embedding.weight is loaded.tgt_embedding.weight
    _assert_same_state(model, loaded)


def test_dtypes_are_kept(tmp_path: Path) -> None:
    module = SqueezeExcitation(16, reduction=4).double()
    save_pretrained(module, tmp_path / "double")
    assert json.loads((tmp_path / "double" / CONFIG_NAME).read_text())["dtype"] == {
        "_attnlab_dtype": "float64"
    }
    _assert_same_state(module, from_pretrained(tmp_path / "double"))
    mixed = SqueezeExcitation(16, reduction=4)
    mixed.fc2.to(torch.bfloat16)  # one layer in another dtype: each tensor keeps its own
    save_pretrained(mixed, tmp_path / "mixed")
    loaded = from_pretrained(tmp_path / "mixed")
    assert loaded.fc2.weight.dtype == torch.bfloat16 and loaded.fc1.weight.dtype == torch.float32
    _assert_same_state(mixed, loaded)


def test_loading_leaves_the_random_stream_alone(tmp_path: Path) -> None:
    save_pretrained(SqueezeExcitation(16, reduction=4), tmp_path)
    state = torch.get_rng_state()
    from_pretrained(tmp_path)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch")
def test_wrappers_are_unwrapped(tmp_path: Path) -> None:
    module = SqueezeExcitation(16, reduction=4)
    wrapped = nn.DataParallel(torch.compile(module))  # wrapping compiles nothing
    save_pretrained(wrapped, tmp_path)
    _assert_same_state(module, from_pretrained(tmp_path, cls=SqueezeExcitation))


def test_device_argument_moves_the_module(tmp_path: Path) -> None:
    save_pretrained(SqueezeExcitation(16, reduction=4), tmp_path)
    loaded = from_pretrained(tmp_path, device=torch.device("cpu"))
    assert loaded.fc1.weight.device.type == "cpu"


# ---------------------------------------------------------------------------------------------
# where the constructor arguments come from


def test_a_wrong_guess_is_refused_with_the_differences(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"(?s)arguments given.*fc1\.weight: torch\.float32 "
                                          r"\(8, 64\) in the module, torch\.float32 \(4, 64\)"):
        save_pretrained(SqueezeExcitation(64, reduction=8), tmp_path, config={"channels": 64})
    assert not tmp_path.joinpath(CONFIG_NAME).exists()


def test_explicit_config_saves_a_module_that_hides_its_arguments(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = AdditiveAttention(4, 6, hidden_dim=8)
    with pytest.raises(ConfigError, match="score.hidden_dim: 8 in the module, 4 rebuilt"):
        save_pretrained(module, tmp_path)
    save_pretrained(module, tmp_path, config={"query_dim": 4, "key_dim": 6, "hidden_dim": 8,
                                              "device": "cpu"})
    assert "device" not in json.loads((tmp_path / CONFIG_NAME).read_text())
    _assert_same_state(module, from_pretrained(tmp_path))


def test_build_records_only_what_was_passed() -> None:
    se = build(SqueezeExcitation, 32, reduction=4, device="cpu")
    assert init_config(se) == {"channels": 32, "reduction": 4}
    assert init_config(copy.deepcopy(se)) == {"channels": 32, "reduction": 4}


def test_functions_and_nested_modules_are_encoded(tmp_path: Path) -> None:
    with recording_init_args():
        module = FeatureWiseAttention(5, hidden_dim=6, activation=torch.tanh)
        stn, *_ = BUILDERS["spatial_transformer"]()
    save_pretrained(module, tmp_path / "fw")
    config = json.loads((tmp_path / "fw" / CONFIG_NAME).read_text())
    assert config["activation"] == {"_attnlab_function": "torch:tanh"}
    assert from_pretrained(tmp_path / "fw").activation is torch.tanh
    save_pretrained(stn, tmp_path / "stn")
    config = json.loads((tmp_path / "stn" / CONFIG_NAME).read_text())
    assert config["localisation"]["_attnlab_class"] == (
        "attnlab.vision.spatial_transformer:MLPLocalisation"
    )


def test_values_without_a_json_form_are_named(tmp_path: Path) -> None:
    module = build(FeatureWiseAttention, 5, activation=lambda x: x)
    with pytest.raises(ConfigError, match=r"activation: .*lambda"):
        save_pretrained(module, tmp_path)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ConfigError, match=r"^x: a tensor argument"):
        encode_value(torch.zeros(2), "x")


@pytest.mark.parametrize(
    "value",
    [None, True, 3, 0.5, "s", [1, (2, 3)], (), {"a": (1.5, float("inf"))}, float("-inf"),
     torch.float16],
)
def test_json_values_round_trip(value: Any) -> None:
    decoded = decode_value(json.loads(json.dumps(encode_value(value), allow_nan=False)))
    assert decoded == value and type(decoded) is type(value)


def test_recording_is_undone_after_the_block() -> None:
    before = SqueezeExcitation.__init__
    with recording_init_args(), recording_init_args():
        assert SqueezeExcitation.__init__ is not before
        inside = SCSE(16, reduction=4)
    assert SqueezeExcitation.__init__ is before
    assert init_config(inside) == {"channels": 16, "reduction": 4}
    # the SE block inside SCSE was built by SCSE with its own arguments: recorded as such
    assert init_config(inside.channel) == {"channels": 16, "reduction": 4}


def test_a_parent_constructor_reached_through_super_records_nothing() -> None:
    @remember_init
    class Parent(nn.Module):
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.proj = nn.Linear(dim, dim)

    class Child(Parent):  # not decorated: its own signature
        def __init__(self, width: int, *, depth: int = 1) -> None:
            super().__init__(width * 2)
            self.extra = depth

    with pytest.raises(ConfigError, match="Child keeps no attribute for its required "
                                          "argument"):
        init_config(Child(3, depth=2))
    assert init_config(Parent(4)) == {"dim": 4}


# ---------------------------------------------------------------------------------------------
# the mixin for new modules


class _Tied(PretrainedMixin, nn.Module):
    """A module outside attnlab whose attributes do not echo its arguments."""

    def __init__(self, vocab: int, width: int, *, temperature: float = 1.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.out = nn.Linear(width, vocab, bias=False)
        self.out.weight = self.embed.weight
        self.tau = temperature

    def forward(self, tokens: Tensor) -> Tensor:
        return self.out(self.embed(tokens)) / self.tau


class _TiedChild(_Tied):
    """No __init__ of its own: the parent's records it."""


def test_the_mixin_saves_and_loads_a_new_module(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _TiedChild(7, 4, temperature=0.5)
    folder = model.save_pretrained(tmp_path)
    loaded = _TiedChild.from_pretrained(folder)
    assert isinstance(loaded, _TiedChild) and loaded.tau == 0.5
    assert loaded.out.weight is loaded.embed.weight
    tokens = torch.tensor([[1, 2, 3]])
    _assert_identical(loaded(tokens), model.eval()(tokens))
    # by path alone, a class outside attnlab is never imported
    with pytest.raises(ConfigError, match=r"refusing to import '.*_TiedChild'"):
        from_pretrained(folder)


# ---------------------------------------------------------------------------------------------
# refusals


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    save_pretrained(SqueezeExcitation(16, reduction=4), tmp_path)
    return tmp_path


def test_another_class_is_refused(saved: Path) -> None:
    with pytest.raises(TypeError, match=r"holds a attnlab\.vision\.squeeze_excitation:"
                                        r"SqueezeExcitation, not a attnlab\.vision\."
                                        r"channel_attention:ECA"):
        from_pretrained(saved, cls=ECA)


def test_a_subclass_of_the_requested_class_is_accepted(tmp_path: Path) -> None:
    save_pretrained(AdditiveAttention(4, 6), tmp_path)
    assert isinstance(from_pretrained(tmp_path, cls=Attention), AdditiveAttention)


def _rewrite_weights(folder: Path, edit: Callable[[dict[str, Tensor]], None]) -> None:
    tensors = safetensors_torch.load_file(folder / WEIGHTS_NAME)
    edit(tensors)
    safetensors_torch.save_file(tensors, folder / WEIGHTS_NAME, metadata={"format": "pt"})


def test_a_missing_tensor_is_named(saved: Path) -> None:
    _rewrite_weights(saved, lambda t: t.pop("fc2.bias"))
    with pytest.raises(ValueError, match=r"does not fit SqueezeExcitation: missing tensor\(s\) "
                                         r"'fc2\.bias'$"):
        from_pretrained(saved)


def test_an_extra_tensor_is_named(saved: Path) -> None:
    _rewrite_weights(saved, lambda t: t.update({"fc3.weight": torch.zeros(2)}))
    with pytest.raises(ValueError, match=r"unexpected tensor\(s\) 'fc3\.weight'$"):
        from_pretrained(saved)


def test_a_wrong_shape_is_named(saved: Path) -> None:
    _rewrite_weights(saved, lambda t: t.update({"fc1.weight": torch.zeros(4, 15)}))
    with pytest.raises(ValueError, match=r"shape mismatch for 'fc1\.weight': saved \(4, 15\), "
                                         r"module \(4, 16\)"):
        from_pretrained(saved)


def test_missing_folder_or_files_are_named(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        from_pretrained(tmp_path / "absent")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        from_pretrained(saved / CONFIG_NAME)
    (saved / WEIGHTS_NAME).unlink()
    with pytest.raises(FileNotFoundError, match=r"has no model\.safetensors"):
        from_pretrained(saved)
    (saved / CONFIG_NAME).unlink()
    with pytest.raises(FileNotFoundError, match=r"has no config\.json"):
        from_pretrained(saved)


def _write_config(folder: Path, config: object) -> None:
    (folder / CONFIG_NAME).write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"_attnlab_class": "xmlrpc.server:SimpleXMLRPCServer"},
         r"refusing to import 'xmlrpc\.server:SimpleXMLRPCServer': only classes under "
         r"'attnlab' are loaded"),
        ({"_attnlab_class": "attnlab.vision.spatial_transformer:SpatialTransformer",
          "localisation": {"_attnlab_class": "xmlrpc.server:SimpleXMLRPCServer"}},
         r"refusing to import 'xmlrpc\.server:SimpleXMLRPCServer': only classes under "
         r"'attnlab' or 'torch\.nn'"),
        ({"_attnlab_class": "attnlab.vision.squeeze_excitation:SqueezeExcitation",
          "channels": 16, "gate": {"_attnlab_function": "xmlrpc.server:resolve_dotted_attribute"}},
         r"refusing to import 'xmlrpc\.server:resolve_dotted_attribute': only functions"),
        ({"_attnlab_class": "attnlab.vision:NoSuchModule"}, r"'attnlab\.vision:NoSuchModule' "
                                                           r"does not exist"),
        ({"_attnlab_class": "attnlab.core.registry:Registry"}, r"is not an nn\.Module class"),
        ({"_attnlab_class": "attnlab.vision.SqueezeExcitation"}, r"must read 'package\.module:"),
        ({"channels": 16}, r"names no class"),
        ([1, 2], r"must hold a JSON object"),
        ({"_attnlab_class": "attnlab.vision.squeeze_excitation:SqueezeExcitation",
          "channels": 16, "reduce": 4}, r"SqueezeExcitation refuses the saved arguments"),
    ],
)
def test_bad_configs_are_refused(saved: Path, config: object, message: str) -> None:
    assert "xmlrpc.server" not in sys.modules
    _write_config(saved, config)
    with pytest.raises(ConfigError, match=message):
        from_pretrained(saved)
    assert "xmlrpc.server" not in sys.modules


def test_unreadable_files_are_named(saved: Path) -> None:
    (saved / WEIGHTS_NAME).write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match=r"model\.safetensors is not a readable safetensors"):
        from_pretrained(saved)
    (saved / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ConfigError, match=r"config\.json is not valid JSON"):
        from_pretrained(saved)
