"""save_pretrained / from_pretrained: the Hub folder layout (config.json + model.safetensors),
exact round trips for every registered mechanism and every architecture, and clear refusals.

Every module is built as users build it, ``Cls(...)`` with no recording block, run once in
training mode (as a trained model has been), saved, loaded and compared: the state dicts
bit-identical (names, dtypes, values) and the outputs in eval mode identical on the example
inputs. The constructor arguments come from the record every module class of attnlab makes at
construction; without it (a module of another package), from attributes: that must round-trip
exactly or be refused, never give a different module.
"""

from __future__ import annotations

import copy
import json
import pickle
import struct
import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import attnlab
import attnlab.architectures
import attnlab.vision
from attnlab.architectures import (
    Seq2Seq,
    SpatialTransformerClassifier,
    TransformerDecoder,
    TransformerEncoder,
)
from attnlab.architectures.stn_classifiers import CNN, FCN
from attnlab.core.init_args import (
    RECORD_ATTRIBUTE,
    AttnModule,
    ConfigError,
    _attnlab_module_classes,
    build,
    decode_value,
    encode_value,
    init_config,
    is_recorded,
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
from attnlab.vision import (
    ECA,
    SCSE,
    BNInception,
    Bottleneck,
    ContextOnly,
    ConvLocalisation,
    GatherExcite,
    GridGenerator,
    InceptionModule,
    MLPLocalisation,
    ParallelSpatialTransformers,
    PreActBottleneck,
    PreActResNet,
    ResNet,
    SequentialSpatialTransformers,
    SpatialTransformer,
    SqueezeExcitation,
    ThinPlateSplineGrid,
)
from reliability.test_devices import ARCHITECTURES

safetensors_torch = pytest.importorskip("safetensors.torch")

Example = tuple[nn.Module, tuple[Any, ...], dict[str, Any]]


def _stn(grid: str | GridGenerator = "affine", *, num_params: int = 6) -> SpatialTransformer:
    """A spatial transformer over ``(B, 1, 8, 8)`` images with an MLP localisation."""
    return SpatialTransformer(MLPLocalisation(64, num_params, hidden_dims=(8,)), grid=grid)


def _images(channels: int, size: int) -> tuple[Tensor, ...]:
    return (torch.randn(2, channels, size, size),)


# The vision models and the parts of the architectures that no registry entry builds: the
# SE-ResNet family, SE-Inception, the STN classifiers, every grid, the Transformer stacks, and
# modules given to a constructor (an STN's localisation, a Seq2Seq's attention).
MORE: dict[str, Callable[[], Example]] = {
    "se_resnet": lambda: (ResNet((1, 1, 1, 1), num_classes=3, reduction=16), _images(3, 32), {}),
    "se_preact_resnet": lambda: (PreActResNet(8, num_classes=3, reduction=4), _images(3, 8), {}),
    "se_preact_bottleneck_resnet": lambda: (
        PreActResNet(11, bottleneck=True, num_classes=3, reduction=4), _images(3, 8), {}
    ),
    "se_bottleneck": lambda: (Bottleneck(32, 8, reduction=4, position="identity"),
                              _images(32, 6), {}),
    "se_preact_bottleneck": lambda: (PreActBottleneck(16, 8, stride=2, reduction=4),
                                     _images(16, 6), {}),
    "se_inception_module": lambda: (
        InceptionModule(16, 8, 4, 8, 4, 8, pool="avg", pool_proj=8, reduction=4),
        _images(16, 7), {},
    ),
    "se_bn_inception": lambda: (BNInception(num_classes=3, reduction=16),
                                (torch.randn(1, 3, 64, 64),), {}),
    "context_only": lambda: (ContextOnly(ECA(16, kernel_size=3)), _images(16, 4), {}),
    "stn_fcn_classifier": lambda: (
        SpatialTransformerClassifier(_stn(), FCN(1, (8, 8), 3, hidden_dims=(8, 8))),
        _images(1, 8), {},
    ),
    "stn_cnn_classifier": lambda: (
        SpatialTransformerClassifier(
            SpatialTransformer(ConvLocalisation(1, 6, input_size=(16, 16), channels=(4, 4),
                                                kernel_size=3, hidden_dim=8, downsample=1)),
            CNN(1, (16, 16), 3, channels=(4, 6), kernel_sizes=(3, 3)),
        ),
        _images(1, 16), {},
    ),
    "parallel_stn_classifier": lambda: (
        SpatialTransformerClassifier(ParallelSpatialTransformers([_stn(), _stn()]),
                                     FCN(2, (8, 8), 3, hidden_dims=(8, 8))),
        _images(1, 8), {},
    ),
    "every_grid": lambda: (
        SequentialSpatialTransformers([
            _stn("translation", num_params=2), _stn("attention", num_params=3),
            _stn("similarity", num_params=4), _stn("projective", num_params=8),
            _stn(ThinPlateSplineGrid((3, 3)), num_params=18),
        ]),
        _images(1, 8), {},
    ),
    "transformer_encoder": lambda: (TransformerEncoder(2, 8, 2, 12, dropout=0.0),
                                    (torch.randn(2, 5, 8),), {}),
    "transformer_decoder": lambda: (TransformerDecoder(1, 8, 2, 12, dropout=0.0, norm_first=True),
                                    (torch.randn(2, 4, 8), torch.randn(2, 5, 8)), {}),
    "seq2seq_given_an_attention_module": lambda: (
        Seq2Seq(9, 7, embed_dim=5, hidden_dim=6, attention=AdditiveAttention(6, 6, hidden_dim=4)),
        (torch.randint(1, 9, (2, 5)), torch.tensor([5, 3]), torch.randint(1, 7, (2, 4))), {},
    ),
}
BUILDERS: dict[str, Callable[[], Example]] = {
    **{entry.name: entry.example for entry in attnlab.list_mechanisms()},
    **ARCHITECTURES,
    **MORE,
}
MECHANISMS = [entry.name for entry in attnlab.list_mechanisms()]

# Without a record (a module of another package, or one pickled before modules recorded their
# arguments), these rebuild from their attributes alone: pinned so that the fallback keeps working.
READ_FROM_ATTRIBUTES = {
    "alternating_coattention", "attention_over_attention", "attention_via_attention", "cbam",
    "contextual_meta_embedding", "dot", "eca", "feature_wise", "gather_excite", "general",
    "graph_attention", "meta_embedding", "multihead", "parallel_coattention", "scaled_dot",
    "scse", "sliding_window", "squeeze_excitation", "structured_self_attention",
    "decoder_only_transformer", "encoder_only_transformer", "memn2n", "pointer_network",
    "seq2seq",
}


def _example(name: str) -> Example:
    torch.manual_seed(0)  # the same inputs (and a fresh generator argument) on every call
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


def _forget_records(module: nn.Module) -> None:
    for sub in module.modules():
        sub.__dict__.pop(RECORD_ATTRIBUTE, None)


def _round_trip(name: str, folder: Path, *, record: bool = True) -> None:
    module, args, kwargs = _example(name)
    if not record:
        _forget_records(module)
    with torch.no_grad():
        module.train()(*args, **kwargs)  # as in training: running statistics, caches
    module.eval()
    save_pretrained(module, folder)
    loaded = from_pretrained(folder, cls=type(module))
    assert type(loaded) is type(module) and not loaded.training
    _assert_same_state(module, loaded)
    _, args, kwargs = _example(name)
    with torch.no_grad():
        expected = module(*args, **kwargs)
    _, args, kwargs = _example(name)
    with torch.no_grad():
        _assert_identical(loaded(*args, **kwargs), expected)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_built_directly_the_round_trip_is_exact(name: str, tmp_path: Path) -> None:
    _round_trip(name, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]


@pytest.mark.parametrize("name", list(BUILDERS))
def test_without_a_record_attributes_round_trip_or_are_refused(name: str,
                                                                tmp_path: Path) -> None:
    if name in READ_FROM_ATTRIBUTES:
        _round_trip(name, tmp_path, record=False)
        return
    # the others keep some argument under another name, or not at all: refused before
    # anything is written (or, once they expose it, exact)
    cls = type(_example(name)[0])
    try:
        _round_trip(name, tmp_path, record=False)
    except ConfigError as error:
        assert str(error).startswith(f"cannot save {cls.__name__}")
        assert "config=" in str(error)
        assert not (tmp_path / CONFIG_NAME).exists()


def _public_module_classes() -> set[type]:
    classes = set()
    for package in (attnlab.architectures, attnlab.vision):
        for name in package.__all__:
            value = getattr(package, name)
            if isinstance(value, type) and issubclass(value, nn.Module):
                classes.add(value)
    return classes


def test_the_sweep_covers_every_mechanism_and_architecture() -> None:
    assert set(MECHANISMS) <= set(BUILDERS) and set(ARCHITECTURES) <= set(BUILDERS)
    assert len(MECHANISMS) >= 25 and len(ARCHITECTURES) >= 10
    assert set(BUILDERS) >= READ_FROM_ATTRIBUTES
    built: set[type] = set()
    for name in BUILDERS:
        built.update(type(m) for m in _example(name)[0].modules())
    abstract = {GridGenerator}
    missing = _public_module_classes() - built - abstract
    assert not missing, sorted(c.__name__ for c in missing)


def test_every_module_class_of_the_package_records_its_arguments() -> None:
    classes = list(_attnlab_module_classes())
    assert len(classes) >= 60
    plain = [c.__qualname__ for c in classes
             if not getattr(c.__dict__["__init__"], "_attnlab_records_init", False)]
    assert not plain
    # by deriving from AttnModule: torch's nn.Module itself is left as it is
    assert all(issubclass(c, AttnModule) for c in classes)
    assert "__init_subclass__" not in nn.Module.__dict__
    # built directly, inside another module, or by a factory: all recorded
    se = SqueezeExcitation(32, reduction=4, gate="tanh")
    assert init_config(se) == {"channels": 32, "reduction": 4, "gate": "tanh"}
    scse = SCSE(16, reduction=4)
    assert init_config(scse.channel) == {"channels": 16, "reduction": 4}
    assert is_recorded(attnlab.create("dot", query_dim=4))
    assert is_recorded(AdditiveAttention(4, 6).score)


def test_config_names_the_class_and_its_arguments(tmp_path: Path) -> None:
    # the gate's name is kept in no attribute called ``gate``: the record says it
    save_pretrained(SqueezeExcitation(64, reduction=8, gate="tanh"), tmp_path)
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
    module, *_ = _example("spatial_transformer")
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
    module, *_ = _example("seq2seq")
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


def test_explicit_config_is_used_as_given(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = AdditiveAttention(4, 6, hidden_dim=8)
    save_pretrained(module, tmp_path, config={"query_dim": 4, "key_dim": 6, "hidden_dim": 8,
                                              "device": "cpu"})
    assert "device" not in json.loads((tmp_path / CONFIG_NAME).read_text())
    _assert_same_state(module, from_pretrained(tmp_path))


def test_a_module_changed_after_it_was_built_is_read_from_attributes_or_refused(
    tmp_path: Path,
) -> None:
    ge = GatherExcite(extent=2)
    ge.extent = 4  # the record says 2; the attribute named after the argument says 4
    save_pretrained(ge, tmp_path / "ge")
    assert json.loads((tmp_path / "ge" / CONFIG_NAME).read_text())["extent"] == 4
    assert from_pretrained(tmp_path / "ge", cls=GatherExcite).extent == 4
    se = SqueezeExcitation(16, reduction=4)
    se.fc1 = nn.Linear(16, 3)  # no argument builds this
    with pytest.raises(ConfigError, match=r"(?s)arguments recorded, \{'channels': 16, "
                                          r"'reduction': 4\}, it differs.*fc1\.weight: "
                                          r"torch\.float32 \(3, 16\) in the module"):
        save_pretrained(se, tmp_path / "se")
    assert not (tmp_path / "se").exists()


def test_build_records_only_what_was_passed() -> None:
    se = build(SqueezeExcitation, 32, reduction=4, device="cpu")
    assert init_config(se) == {"channels": 32, "reduction": 4}
    assert init_config(copy.deepcopy(se)) == {"channels": 32, "reduction": 4}
    assert init_config(SqueezeExcitation(32, 4, device="cpu")) == {"channels": 32,
                                                                    "reduction": 4}


def test_functions_and_nested_modules_are_encoded(tmp_path: Path) -> None:
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
    # a list of modules: a list of nested configs, each from its own record
    stns, *_ = _example("parallel_stn_classifier")
    save_pretrained(stns, tmp_path / "parallel")
    config = json.loads((tmp_path / "parallel" / CONFIG_NAME).read_text())
    nested = config["transformer"]["transformers"]
    assert [t["localisation"]["num_params"] for t in nested] == [6, 6]


def test_values_without_a_json_form_are_named(tmp_path: Path) -> None:
    module = FeatureWiseAttention(5, activation=lambda x: x)
    with pytest.raises(ConfigError, match=r"activation: .*lambda"):
        save_pretrained(module, tmp_path)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ConfigError, match=r"^x: a tensor argument"):
        encode_value(torch.zeros(2), "x")
    # a module of another package that no argument rebuilds: named by the argument's path
    named = nn.Sequential(OrderedDict(flatten=nn.Flatten(), regression=nn.Linear(64, 6)))
    with pytest.raises(ConfigError, match=r"localisation: an nn\.Sequential with named children "
                                          r"\(flatten, regression\) cannot be written"):
        save_pretrained(SpatialTransformer(named), tmp_path)
    assert not any(tmp_path.iterdir())


def test_torch_containers_are_written_as_their_parts(tmp_path: Path) -> None:
    torch.manual_seed(0)
    stn = SpatialTransformer(nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(),
                                           nn.Linear(8, 6)))
    save_pretrained(stn, tmp_path / "stn")
    config = json.loads((tmp_path / "stn" / CONFIG_NAME).read_text())
    parts = config["localisation"]["_attnlab_args"]
    assert [p["_attnlab_class"].split(":")[1] for p in parts] == ["Flatten", "Linear", "ReLU",
                                                                  "Linear"]
    assert parts[1] == {"_attnlab_class": "torch.nn.modules.linear:Linear", "in_features": 64,
                        "out_features": 8}
    loaded = from_pretrained(tmp_path / "stn", cls=SpatialTransformer)
    _assert_same_state(stn, loaded)
    image = torch.randn(2, 1, 8, 8)
    _assert_identical(loaded(image), stn.eval()(image))
    # a loaded module saves again to the same files
    save_pretrained(loaded, tmp_path / "again")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        assert (tmp_path / "stn" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    # a whole model that is a container, with a list and a dict of modules inside
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
        nn.ModuleList([SqueezeExcitation(4, reduction=2)]),
        nn.ModuleDict({"pool": nn.AdaptiveAvgPool2d(1)}),
    )
    save_pretrained(model, tmp_path / "model")
    again = from_pretrained(tmp_path / "model", cls=nn.Sequential)
    assert again[0].bias is None and isinstance(again[2][0], SqueezeExcitation)
    assert isinstance(again[3]["pool"], nn.AdaptiveAvgPool2d)
    _assert_same_state(model, again)
    with pytest.raises(ConfigError, match=r"refusing to import 'torch\.nn\.modules\.container:"
                                          r"Sequential'"):
        from_pretrained(tmp_path / "model")  # by its path alone: only attnlab classes


class _Scaled(AttnModule):
    """A module of the package (by its module name) that takes a tensor argument."""

    __module__ = "attnlab._pretrained_test"

    def __init__(self, weights: Tensor, *, temperature: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(weights.clone() / temperature)


class _Wider(_Scaled):
    """A subclass with its own constructor: its arguments, not the parent's, are recorded."""

    __module__ = "attnlab._pretrained_test"

    def __init__(self, width: int, *, factor: float = 2.0) -> None:
        super().__init__(torch.ones(width), temperature=1 / factor)


def test_classes_of_the_package_record_the_outermost_call_only() -> None:
    wider = _Wider(3, factor=4.0)
    assert init_config(wider) == {"width": 3, "factor": 4.0}
    assert torch.equal(wider.scale, torch.full((3,), 4.0))
    # the tensor is an argument: refused, the argument named
    with pytest.raises(ConfigError, match=r"the arguments recorded: weights: a tensor argument "
                                          r"cannot be saved"):
        save_pretrained(_Scaled(torch.ones(2)), Path("never-written"))
    assert not Path("never-written").exists()


class _UserSE(SqueezeExcitation):
    """A subclass outside the package, without a constructor of its own."""


class _UserAttention(AdditiveAttention):
    """A subclass outside the package with its own constructor (which does not record)."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, dim, hidden_dim=3)
        self.dim = dim


def test_subclasses_outside_the_package(tmp_path: Path) -> None:
    se = _UserSE(8, reduction=2, gate="tanh")  # the parent's constructor records
    assert init_config(se) == {"channels": 8, "reduction": 2, "gate": "tanh"}
    save_pretrained(se, tmp_path / "se")
    assert from_pretrained(tmp_path / "se", cls=_UserSE).gate_name == "tanh"
    user = _UserAttention(4)  # nothing recorded: the attributes say ``dim``
    assert not is_recorded(user)
    save_pretrained(user, tmp_path / "user")
    _assert_same_state(user, from_pretrained(tmp_path / "user", cls=_UserAttention))


def test_recorded_modules_pickle_copy_compile_and_export(tmp_path: Path) -> None:
    torch.manual_seed(0)
    se = SqueezeExcitation(8, reduction=2)
    x = torch.randn(2, 8, 3, 3)
    for copied in (pickle.loads(pickle.dumps(se)), copy.deepcopy(se)):
        assert init_config(copied) == {"channels": 8, "reduction": 2}
        _assert_identical(copied(x), se(x))
    compiled = torch.compile(se, backend="eager")
    _assert_identical(compiled(x), se(x))
    exported = torch.export.export(se.eval(), (x,))
    _assert_identical(exported.module()(x), se(x))
    assert isinstance(compiled, nn.Module)
    save_pretrained(compiled, tmp_path)
    _assert_same_state(se, from_pretrained(tmp_path))


@pytest.mark.parametrize(
    "value",
    [None, True, 3, 0.5, "s", [1, (2, 3)], (), {"a": (1.5, float("inf"))}, float("-inf"),
     torch.float16],
)
def test_json_values_round_trip(value: Any) -> None:
    decoded = decode_value(json.loads(json.dumps(encode_value(value), allow_nan=False)))
    assert decoded == value and type(decoded) is type(value)


def test_the_recording_block_is_kept_and_changes_nothing() -> None:
    before = SqueezeExcitation.__init__
    with recording_init_args(), recording_init_args():
        assert SqueezeExcitation.__init__ is before  # the class records already
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
