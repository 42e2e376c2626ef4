"""Bad inputs over the public API: every case raises a clear error that names the argument.

``CASES`` is one table: each row calls the public API with one bad input and names the error
type and a pattern the message must match (the argument's name and, where it matters, what was
expected). Nothing may broadcast silently: a ``(1, Lk)`` mask for ``B = 2`` is an error, not a
shared mask. The registry-driven table ``MODULE_CASES`` adds the same checks for every
registered mechanism, so a new module is covered without editing this file.

Policies pinned here (and in the library's docstrings):

* **NaN / inf.** Scalars (temperatures, dropout, learning rates, lengths) are validated and
  NaN / inf are rejected. ``attn_bias`` must be finite: NaN would spread over its row and
  ``+-inf`` give NaN rows; keys are excluded with the boolean ``mask``. Data tensors (queries,
  keys, images) are not scanned: NaN in, NaN out, only where it flows.
* **Zero-length sequences (Lk = 0).** Treated as "every key masked": weights of shape
  ``(..., Lq, 0)`` (or zero windows), zero context, finite gradients, for every module.
* **Empty batches (B = 0).** Work everywhere and return empty outputs.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import inspect
import io
import math
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import attnlab
from attnlab.cli import main as cli_main
from attnlab.core.attend import attend
from attnlab.core.distributions import (
    Categorical,
    GumbelSoftmax,
    LinearNormalization,
    Softmax,
    entmax15,
    gumbel_softmax,
    register_distribution_name,
    resolve_distribution,
    sample_categorical,
    sparsemax,
)
from attnlab.core.masks import (
    band_mask,
    causal_mask,
    lengths_to_mask,
    masked_normalize,
    masked_softmax,
)
from attnlab.core.scores import (
    AdditiveScore,
    CosineScore,
    DotScore,
    GeneralScore,
    KernelScore,
    ScaledDotScore,
    additive_scores,
    build_score,
)
from attnlab.data.errors import CorruptFileError, DataError, DownloadError, MissingDataError
from attnlab.data.idx import read_idx, write_idx
from attnlab.data.mnist import ImageTensorDataset, load_idx_classification
from attnlab.data.resources import (
    FileSpec,
    Resource,
    download_file,
    extract_archive,
    resolve_data_root,
)
from attnlab.mechanisms.attention import AdditiveAttention, Attention, LocationAttention
from attnlab.mechanisms.attention_over_attention import AttentionOverAttention
from attnlab.mechanisms.coattention import ParallelCoAttention
from attnlab.mechanisms.hard import HardAttention
from attnlab.mechanisms.hierarchical import HierarchicalAttention
from attnlab.mechanisms.kernel import KernelAttention
from attnlab.mechanisms.local import LocalAttention, SlidingWindowAttention
from attnlab.mechanisms.multidimensional import StructuredSelfAttention
from attnlab.mechanisms.multihead import MultiHeadAttention
from attnlab.mechanisms.representations import MetaEmbedding
from attnlab.report.files import ReportError
from attnlab.report.rundir import RunDirectory, safe_plot_name
from attnlab.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from attnlab.train.config import TrainConfig
from attnlab.train.loop import evaluate, fit
from attnlab.vision.channel_attention import CBAM, ECA
from attnlab.vision.grids import (
    affine_grid,
    make_grid_generator,
    pixel_to_normalized,
    projective_grid,
    regular_control_points,
    tps_grid,
    translation_grid,
)
from attnlab.vision.sampler import bilinear_sample
from attnlab.vision.spatial_transformer import (
    MLPLocalisation,
    SpatialTransformer,
    spatial_transformer_param_groups,
)
from attnlab.vision.squeeze_excitation import SqueezeExcitation
from helpers import forward_argument_names

NAN, INF = float("nan"), float("inf")


@dataclass(frozen=True)
class Case:
    """One bad input: ``call(tmp)`` must raise ``error`` with a message matching ``match``."""

    name: str
    call: Callable[[Path], object]
    error: type[BaseException]
    match: str


class CLIError(Exception):
    """The ``attnlab`` command ended with a non-zero status; the message holds stderr."""


def cli(*argv: str) -> Callable[[Path], object]:
    """A case calling ``attnlab ARGV`` (``{tmp}`` is replaced by the case's temp folder)."""

    def call(tmp: Path) -> object:
        args = [a.replace("{tmp}", str(tmp)) for a in argv]
        err, out = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                code = cli_main(args)
        except SystemExit as exit_:
            code = exit_.code
        if code != 0:  # one line: argparse puts the usage before the error
            raise CLIError(f"exit {code}: " + " ".join(err.getvalue().split()))
        return code

    return call


# ---------------------------------------------------------------------------------------------
# inputs


def q() -> Tensor:
    return torch.randn(2, 3, 4)


def kv() -> Tensor:
    return torch.randn(2, 5, 4)


def key_mask() -> Tensor:
    return torch.tensor([[True] * 5, [True, True, False, False, False]])


def dot_attend(**kwargs: Any) -> Callable[[Path], object]:
    def call(tmp: Path) -> object:
        args = {"query": q(), "key": kv(), "value": kv(), "score": DotScore()}
        args.update(kwargs)
        query, key, value = args.pop("query"), args.pop("key"), args.pop("value")
        return attend(query, key, value, **args)

    return call


def mha(**kwargs: Any) -> Callable[[Path], object]:
    def call(tmp: Path) -> object:
        args = {"query": torch.randn(2, 5, 8)}
        args.update(kwargs)
        return MultiHeadAttention(8, 2)(args.pop("query"), **args)

    return call


def idx_file(tmp: Path, data: bytes, name: str = "images.idx") -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def valid_idx_bytes() -> bytes:
    buffer = io.BytesIO()
    header = bytes([0, 0, 0x08, 3]) + (4).to_bytes(4, "big") + (2).to_bytes(4, "big") * 2
    buffer.write(header + bytes(range(16)))
    return buffer.getvalue()


def fake_resource(tmp: Path, content: bytes, *, declared: bytes | None = None) -> Resource:
    """A one-file resource under ``tmp/toy`` holding ``content``; the spec describes
    ``declared`` (default: ``content``)."""
    folder = tmp / "toy"
    folder.mkdir(exist_ok=True)
    (folder / "data.bin").write_bytes(content)
    reference = content if declared is None else declared
    spec = FileSpec(
        "data.bin", hashlib.sha256(reference).hexdigest(), size=len(reference)
    )
    return Resource("toy", (spec,))


def mnist_like(tmp: Path, *, labels: np.ndarray | None = None) -> Resource:
    folder = tmp / "fake"
    folder.mkdir(exist_ok=True)
    specs = []
    names = {
        "train-images-idx3-ubyte.gz": np.zeros((3, 28, 28), np.uint8),
        "train-labels-idx1-ubyte.gz": labels if labels is not None else np.zeros(3, np.uint8),
        "t10k-images-idx3-ubyte.gz": np.zeros((2, 28, 28), np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.zeros(2, np.uint8),
    }
    for name, array in names.items():
        write_idx(folder / name, array)
        data = (folder / name).read_bytes()
        specs.append(FileSpec(name, hashlib.sha256(data).hexdigest(), size=len(data)))
    return Resource("fake", tuple(specs))


def truncated_tar(tmp: Path) -> Path:
    path = tmp / "data.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("a.txt")
        info.size = 4000
        tar.addfile(info, io.BytesIO(bytes(4000)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def tiny_fit(**kwargs: Any) -> Callable[[Path], object]:
    def call(tmp: Path) -> object:
        x, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
        args: dict[str, Any] = {
            "model": nn.Linear(2, 2),
            "train_set": torch.utils.data.TensorDataset(x, y),
            "config": TrainConfig(epochs=1, batch_size=4, device="cpu"),
            "progress": False,
        }
        args.update({k: (v(tmp) if callable(v) and k == "run_dir" else v)
                     for k, v in kwargs.items()})
        return fit(args.pop("model"), args.pop("train_set"), **args)

    return call


def write_file(tmp: Path) -> Path:
    path = tmp / "not-a-folder"
    path.write_text("x")
    return path


# ---------------------------------------------------------------------------------------------
# the table

CASES: list[Case] = [
    # --- attend: ranks, dims, dtypes, masks, biases, scalars, keywords --------------------------
    Case("attend/query-rank-2", dot_attend(query=torch.randn(3, 4)), ValueError,
         r"query must be a 3-D tensor of shape \(B, Lq, Dq\)"),
    Case("attend/key-rank-4", dot_attend(key=torch.randn(2, 1, 5, 4)), ValueError,
         r"key must be a 3-D tensor"),
    Case("attend/int-query", dot_attend(query=torch.ones(2, 3, 4, dtype=torch.long)), TypeError,
         r"query must be a floating-point tensor"),
    Case("attend/int-value", dot_attend(value=torch.ones(2, 5, 4, dtype=torch.int32)), TypeError,
         r"value must be a floating-point tensor"),
    Case("attend/value-length", dot_attend(value=torch.randn(2, 4, 4)), ValueError,
         r"key and value must have the same length Lk, got 5 and 4"),
    Case("attend/key-batch", dot_attend(key=torch.randn(1, 5, 4), value=torch.randn(1, 5, 4)),
         ValueError, r"same batch size"),
    Case("attend/mask-1xLk-for-B2", dot_attend(mask=key_mask()[:1]), ValueError,
         r"mask of rank 2 must have shape \(B, Lk\) = \(2, 5\), got \(1, 5\)"),
    Case("attend/mask-Bx1xLk", dot_attend(mask=key_mask()[:, None]), ValueError,
         r"mask of rank 3 must have shape \(B, Lq, Lk\) = \(2, 3, 5\)"),
    Case("attend/float-mask", dot_attend(mask=key_mask().float()), TypeError,
         r"mask must be a boolean tensor .*attn_bias"),
    Case("attend/int-mask", dot_attend(mask=key_mask().long()), TypeError,
         r"mask must be a boolean tensor"),
    Case("attend/mask-rank-1", dot_attend(mask=key_mask()[0]), ValueError,
         r"mask must have shape \(B, Lk\) or \(B, Lq, Lk\), got a 1-D"),
    Case("attend/mask-rank-4", dot_attend(mask=torch.ones(2, 3, 5, 1, dtype=torch.bool)),
         ValueError, r"mask must have shape .* got a 4-D"),
    Case("attend/mask-wrong-Lk", dot_attend(mask=key_mask()[:, :4]), ValueError,
         r"mask of rank 2 must have shape \(B, Lk\) = \(2, 5\), got \(2, 4\)"),
    Case("attend/mask-list", dot_attend(mask=[[True] * 5] * 2), TypeError,
         r"mask must be a boolean torch.Tensor"),
    Case("attend/bias-bool", dot_attend(attn_bias=key_mask()), TypeError,
         r"attn_bias must be a floating-point tensor .*mask"),
    Case("attend/bias-1xLk", dot_attend(attn_bias=torch.zeros(1, 5)), ValueError,
         r"attn_bias must have shape \(3, 5\) or \(2, 3, 5\), got \(1, 5\)"),
    Case("attend/bias-Bx1xLk", dot_attend(attn_bias=torch.zeros(2, 1, 5)), ValueError,
         r"attn_bias must have shape"),
    Case("attend/bias-nan", dot_attend(attn_bias=torch.full((3, 5), NAN)), ValueError,
         r"attn_bias must be finite"),
    Case("attend/bias-plus-inf", dot_attend(attn_bias=torch.full((3, 5), INF)), ValueError,
         r"attn_bias must be finite"),
    Case("attend/bias-minus-inf-row",
         dot_attend(attn_bias=torch.zeros(3, 5).index_fill_(0, torch.tensor([0]), -INF)),
         ValueError, r"attn_bias must be finite .*mask"),
    Case("attend/dropout-1", dot_attend(dropout=1.0), ValueError, r"dropout must be in \[0, 1\)"),
    Case("attend/dropout-nan", dot_attend(dropout=NAN), ValueError, r"dropout must be in"),
    Case("attend/dropout-str", dot_attend(dropout="0.1"), TypeError, r"dropout must be a float"),
    Case("attend/need-weights-str", dot_attend(need_weights="no"), TypeError,
         r"need_weights must be True or False, got str"),
    Case("attend/score-none", dot_attend(score=None), TypeError, r"score must be callable"),
    Case("attend/score-bad-shape", dot_attend(score=lambda a, b: torch.zeros(2, 3)), ValueError,
         r"score must return scores of shape \(B, Lq, Lk\) = \(2, 3, 5\)"),
    Case("attend/distribution-unknown", dot_attend(distribution="softmaxx"), ValueError,
         r"unknown distribution 'softmaxx'"),
    Case("attend/distribution-int", dot_attend(distribution=3), TypeError,
         r"distribution must be a name or a callable"),
    Case("attend/unknown-keyword", dot_attend(temperature=0.5), TypeError,
         r"unexpected keyword argument 'temperature'"),
    # --- masks ------------------------------------------------------------------------------
    Case("lengths/nan", lambda t: lengths_to_mask([1, NAN]), TypeError,
         r"lengths must hold integers"),
    Case("lengths/float-tensor", lambda t: lengths_to_mask(torch.tensor([1.0, 2.0])), TypeError,
         r"lengths must hold integers, got dtype torch.float32"),
    Case("lengths/rank-2", lambda t: lengths_to_mask(torch.ones(2, 2, dtype=torch.long)),
         ValueError, r"lengths must be a 1-D tensor of shape \(B,\)"),
    Case("lengths/negative", lambda t: lengths_to_mask([1, -1]), ValueError,
         r"lengths must be >= 0"),
    Case("lengths/string", lambda t: lengths_to_mask("12"), TypeError,
         r"lengths must be a 1-D integer tensor or a list of ints, got str"),
    Case("lengths/none", lambda t: lengths_to_mask(None), TypeError,
         r"lengths must be a 1-D integer tensor"),
    Case("lengths/max-length-float", lambda t: lengths_to_mask([1, 2], 2.5), TypeError,
         r"max_length must be an integer >= 0, got float"),
    Case("lengths/max-length-bool", lambda t: lengths_to_mask([1, 1], True), TypeError,
         r"max_length must be an integer"),
    Case("lengths/max-length-short", lambda t: lengths_to_mask([1, 3], 2), ValueError,
         r"max_length=2 is shorter than the longest length 3"),
    Case("causal/negative-q-len", lambda t: causal_mask(-1), ValueError,
         r"q_len must be an integer >= 0, got -1"),
    Case("causal/float-q-len", lambda t: causal_mask(2.5), TypeError, r"q_len must be an integer"),
    Case("causal/negative-k-len", lambda t: causal_mask(2, -3), ValueError, r"k_len must be"),
    Case("causal/negative-batch", lambda t: causal_mask(2, batch_size=-1), ValueError,
         r"batch_size must be an integer >= 0"),
    Case("band/window-0", lambda t: band_mask(3, window_size=0), ValueError,
         r"window_size must be >= 1"),
    Case("band/window-float", lambda t: band_mask(3, window_size=2.5), TypeError,
         r"window_size must be an integer"),
    Case("masked_softmax/temperature-nan",
         lambda t: masked_softmax(torch.zeros(2, 3), temperature=NAN), ValueError,
         r"temperature must be a finite number > 0, got nan"),
    Case("masked_softmax/temperature-inf",
         lambda t: masked_softmax(torch.zeros(2, 3), temperature=INF), ValueError,
         r"temperature must be a finite number > 0, got inf"),
    Case("masked_softmax/temperature-0",
         lambda t: masked_softmax(torch.zeros(2, 3), temperature=0.0), ValueError,
         r"temperature must be a finite number > 0"),
    Case("masked_softmax/temperature-str",
         lambda t: masked_softmax(torch.zeros(2, 3), temperature="2"), TypeError,
         r"temperature must be a positive float, got str"),
    Case("masked_softmax/int-scores",
         lambda t: masked_softmax(torch.zeros(2, 3, dtype=torch.long)), TypeError,
         r"scores must be a floating-point tensor"),
    Case("masked_softmax/float-mask",
         lambda t: masked_softmax(torch.zeros(2, 3), torch.ones(2, 3)), TypeError,
         r"mask must be a boolean tensor"),
    Case("masked_softmax/mask-mismatch",
         lambda t: masked_softmax(torch.zeros(2, 3), torch.ones(2, 4, dtype=torch.bool)),
         ValueError, r"mask of shape \(2, 4\) does not broadcast to the scores' shape \(2, 3\)"),
    Case("masked_softmax/mask-enlarges",
         lambda t: masked_softmax(torch.zeros(2, 3), torch.ones(4, 2, 3, dtype=torch.bool)),
         ValueError, r"mask of shape \(4, 2, 3\) does not broadcast"),
    Case("masked_normalize/mask-enlarges",
         lambda t: masked_normalize(torch.zeros(3), torch.ones(2, 3, dtype=torch.bool),
                                    lambda x: x.softmax(-1)),
         ValueError, r"mask of shape \(2, 3\) does not broadcast"),
    # --- distributions ------------------------------------------------------------------------
    Case("Softmax/temperature-nan", lambda t: Softmax(temperature=NAN), ValueError,
         r"temperature must be a finite number > 0"),
    Case("Softmax/temperature-str", lambda t: Softmax(temperature="a"), TypeError,
         r"temperature must be a positive float"),
    Case("Softmax/int-scores", lambda t: Softmax()(torch.zeros(2, 3, dtype=torch.long)),
         TypeError, r"scores must be a floating-point tensor"),
    Case("Softmax/mask-mismatch",
         lambda t: Softmax(0.5)(torch.zeros(2, 3), torch.ones(3, 2, dtype=torch.bool)),
         ValueError, r"mask of shape \(3, 2\) does not broadcast"),
    Case("LinearNormalization/int-scores",
         lambda t: LinearNormalization()(torch.ones(2, 3, dtype=torch.long)), TypeError,
         r"scores must be a floating-point tensor"),
    Case("sparsemax/scalar", lambda t: sparsemax(torch.tensor(1.0)), ValueError,
         r"scores must have at least one dimension"),
    Case("sparsemax/float-mask", lambda t: sparsemax(torch.zeros(2, 3), mask=torch.ones(2, 3)),
         TypeError, r"mask must be a boolean tensor"),
    Case("entmax15/int-scores", lambda t: entmax15(torch.ones(2, 3, dtype=torch.int32)),
         TypeError, r"scores must be a floating-point tensor"),
    Case("gumbel/tau-0", lambda t: gumbel_softmax(torch.zeros(2, 3), tau=0.0), ValueError,
         r"tau must be a finite number > 0"),
    Case("gumbel/tau-nan", lambda t: gumbel_softmax(torch.zeros(2, 3), tau=NAN), ValueError,
         r"tau must be a finite number > 0, got nan"),
    Case("gumbel/hard-int", lambda t: gumbel_softmax(torch.zeros(2, 3), hard=1), TypeError,
         r"hard must be a bool, got int"),
    Case("GumbelSoftmax/hard-str", lambda t: GumbelSoftmax(hard="yes"), TypeError,
         r"hard must be a bool"),
    Case("Categorical/temperature-0", lambda t: Categorical(temperature=0), ValueError,
         r"temperature must be a finite number > 0"),
    Case("sample_categorical/negative",
         lambda t: sample_categorical(torch.tensor([[-0.1, 1.1]])), ValueError,
         r"weights must be >= 0"),
    Case("resolve_distribution/unknown", lambda t: resolve_distribution("argmax"), ValueError,
         r"unknown distribution 'argmax'; expected one of"),
    Case("register_distribution_name/taken",
         lambda t: register_distribution_name("softmax", Softmax), ValueError,
         r"distribution name 'softmax' is already taken"),
    # --- scores -------------------------------------------------------------------------------
    Case("DotScore/feature-mismatch", lambda t: DotScore()(q(), torch.randn(2, 5, 3)),
         ValueError, r"query and key of the same feature size"),
    Case("GeneralScore/query-dim-0", lambda t: GeneralScore(0, 4), ValueError,
         r"query_dim must be an integer >= 1, got 0"),
    Case("AdditiveScore/hidden-dim-0", lambda t: AdditiveScore(4, 4, hidden_dim=0), ValueError,
         r"hidden_dim must be an integer >= 1"),
    Case("ScaledDotScore/scale-nan", lambda t: ScaledDotScore(scale=NAN), ValueError,
         r"scale must be a finite number > 0"),
    Case("CosineScore/sharpening-0", lambda t: CosineScore(sharpening=0.0), ValueError,
         r"sharpening must be a finite number > 0"),
    Case("KernelScore/num-features-0", lambda t: KernelScore(4, num_features=0), ValueError,
         r"num_features must be an integer >= 1"),
    Case("build_score/unknown", lambda t: build_score("bilinearr", query_dim=4), ValueError,
         r"unknown score 'bilinearr'"),
    Case("additive_scores/chunk-bytes-0",
         lambda t: additive_scores(torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(4),
                                   chunk_bytes=0),
         ValueError, r"chunk_bytes must be an integer >= 1"),
    Case("additive_scores/v-size",
         lambda t: additive_scores(torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(3)),
         ValueError, r"v has size 3 in its last dimension"),
    # --- module constructors --------------------------------------------------------------------
    Case("AdditiveAttention/query-dim-0", lambda t: AdditiveAttention(0), ValueError,
         r"query_dim must be an integer >= 1"),
    Case("AdditiveAttention/dropout-1.5", lambda t: AdditiveAttention(4, dropout=1.5),
         ValueError, r"dropout must be in \[0, 1\)"),
    Case("AdditiveAttention/unknown-keyword", lambda t: AdditiveAttention(4, bias=True),
         TypeError, r"unexpected keyword argument 'bias'"),
    Case("Attention/unknown-score", lambda t: Attention(4, score="bogus"), ValueError,
         r"unknown score 'bogus'"),
    Case("LocationAttention/no-max-length", lambda t: LocationAttention(4), TypeError,
         r"missing 1 required keyword-only argument: 'max_length'"),
    Case("MultiHeadAttention/heads-not-dividing", lambda t: MultiHeadAttention(8, 3), ValueError,
         r"dim=8 must be divisible by num_heads=3"),
    Case("MultiHeadAttention/heads-0", lambda t: MultiHeadAttention(8, 0), ValueError,
         r"num_heads must be an integer >= 1"),
    Case("MultiHeadAttention/batch-first-keyword",
         lambda t: MultiHeadAttention(8, 2, batch_first=True), TypeError,
         r"unexpected keyword argument 'batch_first'"),
    Case("LocalAttention/even-window", lambda t: LocalAttention(4, window_size=4), ValueError,
         r"window_size must be odd"),
    Case("LocalAttention/mode", lambda t: LocalAttention(4, mode="local-m"), ValueError,
         r"mode must be one of"),
    Case("SlidingWindowAttention/even-window",
         lambda t: SlidingWindowAttention(4, window_size=2), ValueError,
         r"window_size must be odd"),
    Case("HardAttention/mode", lambda t: HardAttention(4, mode="argmax"), ValueError,
         r"mode must be one of"),
    Case("HardAttention/tau-0", lambda t: HardAttention(4, tau=0.0), ValueError,
         r"tau must be > 0, got 0\.0"),
    Case("StructuredSelfAttention/hops-0", lambda t: StructuredSelfAttention(4, num_hops=0),
         ValueError, r"num_hops must be an integer >= 1, got 0"),
    Case("MetaEmbedding/no-sets", lambda t: MetaEmbedding([], 4), ValueError,
         r"embedding_dims must name at least one embedding set"),
    Case("SqueezeExcitation/reduction-too-large", lambda t: SqueezeExcitation(4, 16), ValueError,
         r"reduction=16 leaves no hidden unit for channels=4"),
    Case("SqueezeExcitation/squeeze", lambda t: SqueezeExcitation(16, squeeze="median"),
         ValueError, r"squeeze must be one of \('avg', 'max'\)"),
    Case("SqueezeExcitation/channels-float", lambda t: SqueezeExcitation(16.0), TypeError,
         r"channels must be an integer"),
    Case("CBAM/channels-0", lambda t: CBAM(0), ValueError, r"channels must be an integer >= 1"),
    Case("ECA/channels-0", lambda t: ECA(0), ValueError, r"channels must be an integer >= 1"),
    # --- module forward (beyond the registry-driven table below) -------------------------------
    Case("MultiHeadAttention/query-dim", mha(query=torch.randn(2, 5, 6)), ValueError,
         r"query has size 6 in its last dimension but dim is 8"),
    Case("MultiHeadAttention/value-without-key", mha(value=torch.randn(2, 5, 8)), ValueError,
         r"value was given without key"),
    Case("MultiHeadAttention/bias-heads", mha(attn_bias=torch.zeros(2, 3, 5, 5)), ValueError,
         r"attn_bias must have shape .*\(2, 2, 5, 5\)"),
    Case("MultiHeadAttention/bias-nan", mha(attn_bias=torch.full((5, 5), NAN)), ValueError,
         r"attn_bias must be finite"),
    Case("MultiHeadAttention/need-weights-int", mha(need_weights=0), TypeError,
         r"need_weights must be True or False, got int"),
    Case("KernelAttention/need-weights-none",
         lambda t: KernelAttention(4)(q(), need_weights=None), TypeError,
         r"need_weights must be True or False"),
    Case("LocalAttention/query-dim",
         lambda t: LocalAttention(6, 4, window_size=3)(torch.randn(2, 3, 5), kv()), ValueError,
         r"query has size 5 in its last dimension but query_dim is 6"),
    Case("SlidingWindowAttention/rank-2",
         lambda t: SlidingWindowAttention(4, window_size=3)(torch.randn(6, 4)), ValueError,
         r"x must be a 3-D tensor of shape \(B, L, d\)"),
    Case("HierarchicalAttention/mask-B-S",
         lambda t: HierarchicalAttention(6)(torch.randn(2, 3, 4, 6),
                                            mask=torch.ones(2, 3, dtype=torch.bool)),
         ValueError, r"mask must have shape \(B, S, W\) = \(2, 3, 4\)"),
    Case("ParallelCoAttention/image-mask-1xN",
         lambda t: ParallelCoAttention(8, 6, 5)(torch.randn(2, 5, 8), torch.randn(2, 6, 6),
                                                image_mask=torch.ones(1, 6, dtype=torch.bool)),
         ValueError, r"image_mask of rank 2 must have shape \(B, Lk\) = \(2, 6\), got \(1, 6\)"),
    Case("AttentionOverAttention/feature-mismatch",
         lambda t: AttentionOverAttention()(torch.randn(2, 7, 6), torch.randn(2, 4, 5)),
         ValueError, r"query must have the document's feature size D = 6"),
    Case("HardAttention/generator-type",
         lambda t: HardAttention(4, hidden_dim=3)(q(), kv(), generator=0), TypeError,
         r"'generator' must be torch\.Generator"),
    Case("MetaEmbedding/set-count",
         lambda t: MetaEmbedding([3, 4], 5)(torch.randn(2, 4, 3)), ValueError,
         r"expected 2 embedding tensors \(one per embedding set\), got 1"),
    Case("MetaEmbedding/contextual-mask-not-padding",
         lambda t: MetaEmbedding([3], 5, contextual=True)(
             torch.randn(2, 4, 3), mask=torch.tensor([[True, False, True, True]] * 2)),
         ValueError, r"mask must be a padding mask"),
    # --- grids, sampler, SE, STN ----------------------------------------------------------------
    Case("affine_grid/unbatched-theta", lambda t: affine_grid(torch.eye(2, 3), (4, 4)),
         ValueError, r"theta must have shape \(B, 2, 3\) or \(B, 6\), got shape \(2, 3\)"),
    Case("affine_grid/int-theta",
         lambda t: affine_grid(torch.zeros(2, 2, 3, dtype=torch.long), (4, 4)), TypeError,
         r"theta must be a floating-point tensor"),
    Case("affine_grid/size-3", lambda t: affine_grid(torch.zeros(2, 6), (4, 4, 4)), ValueError,
         r"size must be \(H, W\) or \(B, C, H, W\)"),
    Case("affine_grid/size-0", lambda t: affine_grid(torch.zeros(2, 6), (0, 4)), ValueError,
         r"size must have a positive height and width"),
    Case("affine_grid/size-float", lambda t: affine_grid(torch.zeros(2, 6), (4.0, 4)),
         ValueError, r"size must be .* of ints"),
    Case("affine_grid/size-tensor", lambda t: affine_grid(torch.zeros(2, 6), torch.tensor([4, 4])),
         TypeError, r"size must be a sequence of ints"),
    Case("affine_grid/size-batch", lambda t: affine_grid(torch.zeros(2, 6), (3, 1, 4, 4)),
         ValueError, r"size has batch size 3 but theta has batch size 2"),
    Case("affine_grid/align-corners-str",
         lambda t: affine_grid(torch.zeros(2, 6), (4, 4), align_corners="yes"), TypeError,
         r"align_corners must be a bool"),
    Case("translation_grid/theta-3", lambda t: translation_grid(torch.zeros(2, 3), (4, 4)),
         ValueError, r"theta must have shape \(B, 2\)"),
    Case("projective_grid/theta-2x3", lambda t: projective_grid(torch.zeros(2, 2, 3), (4, 4)),
         ValueError, r"theta must have shape \(B, 8\) or \(B, 3, 3\)"),
    Case("tps_grid/control-points-3d",
         lambda t: tps_grid(torch.zeros(2, 16, 2), (4, 4), control_points=torch.zeros(16, 3)),
         ValueError, r"control_points must have shape \(K, 2\)"),
    Case("regular_control_points/1", lambda t: regular_control_points(1), ValueError,
         r"grid_shape must be two ints >= 2"),
    Case("pixel_to_normalized/last-dim-3",
         lambda t: pixel_to_normalized(torch.zeros(3, 3), (4, 4)), ValueError,
         r"points must have shape \(\.\.\., 2\)"),
    Case("make_grid_generator/unknown", lambda t: make_grid_generator("warp"), ValueError,
         r"grid must be a GridGenerator or one of"),
    Case("bilinear_sample/image-3d",
         lambda t: bilinear_sample(torch.randn(1, 5, 5), torch.zeros(1, 3, 3, 2)), ValueError,
         r"image must be a 4-D tensor of shape \(B, C, H, W\)"),
    Case("bilinear_sample/grid-last-3",
         lambda t: bilinear_sample(torch.randn(2, 1, 5, 5), torch.zeros(2, 3, 3, 3)), ValueError,
         r"grid must have shape \(B, H_out, W_out, 2\)"),
    Case("bilinear_sample/batch-1-grid-for-2",
         lambda t: bilinear_sample(torch.randn(2, 1, 5, 5), torch.zeros(1, 3, 3, 2)), ValueError,
         r"grid has batch size 1 but image has batch size 2"),
    Case("bilinear_sample/dtype-mismatch",
         lambda t: bilinear_sample(torch.randn(2, 1, 5, 5, dtype=torch.float64),
                                   torch.zeros(2, 3, 3, 2)),
         TypeError, r"grid has dtype torch.float32 but image has dtype torch.float64"),
    Case("bilinear_sample/padding-mode",
         lambda t: bilinear_sample(torch.randn(2, 1, 5, 5), torch.zeros(2, 3, 3, 2),
                                   padding_mode="wrap"),
         ValueError, r"padding_mode must be one of"),
    Case("bilinear_sample/empty-image",
         lambda t: bilinear_sample(torch.randn(2, 1, 0, 5), torch.zeros(2, 3, 3, 2)), ValueError,
         r"image must have a non-empty spatial size"),
    Case("SqueezeExcitation/channels-mismatch",
         lambda t: SqueezeExcitation(16, 4)(torch.randn(2, 8, 5, 5)), ValueError,
         r"x has size 8 in its dimension 1 but channels is 16"),
    Case("SqueezeExcitation/empty-HW",
         lambda t: SqueezeExcitation(16, 4)(torch.randn(2, 16, 0, 5)), ValueError,
         r"x must have a non-empty spatial size"),
    Case("SpatialTransformer/localisation-str", lambda t: SpatialTransformer("net"), TypeError,
         r"localisation must be an nn.Module"),
    Case("SpatialTransformer/lr-multiplier-nan",
         lambda t: SpatialTransformer(MLPLocalisation(16, 6), lr_multiplier=NAN), ValueError,
         r"lr_multiplier must be >= 0, got nan"),
    Case("SpatialTransformer/output-size-0",
         lambda t: SpatialTransformer(MLPLocalisation(16, 6), output_size=(0, 4)), ValueError,
         r"output_size must have a positive height and width"),
    Case("SpatialTransformer/wrong-parameter-count",
         lambda t: SpatialTransformer(MLPLocalisation(16, 4)), ValueError,
         r"out_features=4 but the grid needs 6 parameters"),
    Case("SpatialTransformer/image-size",
         lambda t: SpatialTransformer(MLPLocalisation(16, 6))(torch.randn(2, 1, 4, 5)),
         ValueError, r"20 elements per sample .* in_features is 16"),
    Case("spatial_transformer_param_groups/model-str",
         lambda t: spatial_transformer_param_groups("model", 0.1), TypeError,
         r"model must be an nn.Module"),
    Case("spatial_transformer_param_groups/lr-0",
         lambda t: spatial_transformer_param_groups(nn.Linear(2, 2), 0.0), ValueError,
         r"base_lr must be > 0"),
    # --- data: files, checksums, downloads, archives -------------------------------------------
    Case("fetch/wrong-checksum",
         lambda t: fake_resource(t, b"abcd", declared=b"abce").fetch("data.bin", data_dir=t),
         CorruptFileError, r"data\.bin: sha256 mismatch"),
    Case("fetch/wrong-size",
         lambda t: fake_resource(t, b"abc", declared=b"abcd").fetch("data.bin", data_dir=t),
         CorruptFileError, r"data\.bin: size mismatch: expected 4 bytes, got 3"),
    Case("fetch/missing", lambda t: Resource("toy", (FileSpec("data.bin", "0" * 64),)).fetch(
        "data.bin", data_dir=t), MissingDataError, r"file not found: .*toy/data\.bin"),
    Case("fetch/download-int",
         lambda t: fake_resource(t, b"a").fetch("data.bin", data_dir=t, download=1), TypeError,
         r"download must be a bool"),
    Case("read_idx/bad-magic", lambda t: read_idx(idx_file(t, b"\x01\x02\x03\x04" + bytes(20))),
         CorruptFileError, r"images\.idx"),
    Case("read_idx/truncated", lambda t: read_idx(idx_file(t, valid_idx_bytes()[:-5])),
         CorruptFileError, r"images\.idx.*truncated"),
    Case("read_idx/truncated-gzip",
         lambda t: read_idx(idx_file(t, gzip.compress(valid_idx_bytes())[:20], "x.idx.gz")),
         CorruptFileError, r"x\.idx\.gz"),
    Case("read_idx/wrong-shape",
         lambda t: read_idx(idx_file(t, valid_idx_bytes()), shape=(None, 28, 28)),
         CorruptFileError, r"images\.idx.*\(N, 28, 28\)"),
    Case("load_idx_classification/split",
         lambda t: load_idx_classification(mnist_like(t), "validation", data_dir=t), ValueError,
         r"split must be one of"),
    Case("load_idx_classification/labels-out-of-range",
         lambda t: load_idx_classification(mnist_like(t, labels=np.array([1, 2, 12], np.uint8)),
                                           "train", data_dir=t),
         CorruptFileError, r"train-labels-idx1-ubyte\.gz: label 12 outside \[0, 10\)"),
    Case("ImageTensorDataset/float-labels",
         lambda t: ImageTensorDataset(torch.zeros(2, 4, 4, dtype=torch.uint8), torch.zeros(2)),
         ValueError, r"labels must be an integer tensor"),
    Case("FileSpec/bad-sha256", lambda t: FileSpec("a.bin", "xyz"), ValueError,
         r"sha256 must be 64 lowercase hex digits"),
    Case("FileSpec/dotdot-name", lambda t: FileSpec("../a.bin", "0" * 64), ValueError,
         r"name must be a relative file name"),
    Case("Resource/slash-name", lambda t: Resource("a/b", ()), ValueError,
         r"name must be a plain folder name"),
    Case("resolve_data_root/int", lambda t: resolve_data_root(3), TypeError,
         r"data_dir must be a path or None, got int"),
    Case("download_file/retries-0",
         lambda t: download_file(FileSpec("a", "0" * 64, urls=("file:///x",)), t / "a",
                                 retries=0),
         ValueError, r"retries must be >= 1"),
    Case("download_file/wrong-checksum",
         lambda t: download_file(
             FileSpec("copy.bin", "0" * 64, urls=(idx_file(t, b"payload").as_uri(),)),
             t / "copy.bin", retries=1, backoff=0, progress=False),
         DownloadError, r"could not download copy\.bin(?s:.)*sha256 mismatch"),
    Case("extract_archive/not-an-archive",
         lambda t: extract_archive(idx_file(t, b"plain text"), t / "out"), CorruptFileError,
         r"images\.idx: not a tar or zip archive"),
    Case("extract_archive/truncated", lambda t: extract_archive(truncated_tar(t), t / "out"),
         CorruptFileError, r"data\.tar\.gz: the archive is truncated or corrupt"),
    Case("extract_archive/max-bytes-negative",
         lambda t: extract_archive(truncated_tar(t), t / "out", max_bytes=-1), ValueError,
         r"max_bytes must be an integer >= 0"),
    Case("extract_archive/missing", lambda t: extract_archive(t / "none.tar", t / "out"),
         MissingDataError, r"none\.tar does not exist"),
    Case("extract_archive/dest-not-empty",
         lambda t: extract_archive(truncated_tar(t), t), FileExistsError,
         r"dest .* exists and is not an empty folder"),
    # --- command line -------------------------------------------------------------------------
    Case("cli/unknown-command", cli("frobnicate"), CLIError,
         r"exit 2: .*invalid choice: 'frobnicate'"),
    Case("cli/missing-name", cli("run"), CLIError, r"exit 2: .*required: NAME"),
    Case("cli/unknown-flag", cli("run", "demo_retrieval", "--bogus"), CLIError,
         r"exit 2: .*unrecognized arguments: --bogus"),
    Case("cli/unknown-scale", cli("run", "demo_retrieval", "--scale", "huge"), CLIError,
         r"exit 2: .*argument --scale: invalid choice: 'huge'"),
    Case("cli/seed-not-int", cli("run", "demo_retrieval", "--seed", "x"), CLIError,
         r"exit 2: .*argument --seed: invalid int value: 'x'"),
    Case("cli/unknown-experiment", cli("run", "no_such", "--out", "{tmp}/r"), CLIError,
         r"exit 2: .*unknown experiment 'no_such'"),
    Case("cli/set-unknown-key",
         cli("run", "demo_retrieval", "--set", "stepz=1", "--out", "{tmp}/r"), CLIError,
         r"exit 2: .*stepz.*valid keys: steps"),
    Case("cli/set-wrong-type",
         cli("run", "demo_retrieval", "--set", "steps=abc", "--out", "{tmp}/r"), CLIError,
         r"exit 2: .*setting 'steps' expects int, got 'abc'"),
    Case("cli/set-float-for-int",
         cli("run", "demo_retrieval", "--set", "model.dim=2.5", "--out", "{tmp}/r"), CLIError,
         r"exit 2: .*setting 'model\.dim' expects int, got '2\.5'"),
    Case("cli/set-bool-for-int",
         cli("run", "demo_retrieval", "--set", "steps=true", "--out", "{tmp}/r"), CLIError,
         r"exit 2: .*setting 'steps' expects int"),
    Case("cli/set-no-equals", cli("run", "demo_retrieval", "--set", "steps", "--out", "{tmp}/r"),
         CLIError, r"exit 2: .*--set expects key=value, got 'steps'"),
    Case("cli/set-twice",
         cli("run", "demo_retrieval", "--set", "steps=1", "--set", "steps=2", "--out",
             "{tmp}/r"),
         CLIError, r"exit 2: .*--set steps is given twice"),
    Case("cli/set-group", cli("run", "demo_retrieval", "--set", "optim=1", "--out", "{tmp}/r"),
         CLIError, r"exit 2: .*'optim' is a group of settings"),
    Case("cli/set-nan-lr",
         cli("run", "demo_retrieval", "--set", "optim.lr=nan", "--out", "{tmp}/r"), CLIError,
         r"exit 2: .*optim\.lr must be > 0, got nan"),
    Case("cli/device", cli("run", "demo_retrieval", "--device", "gpu", "--out", "{tmp}/r"),
         CLIError, r"exit 2: .*--device 'gpu' is not a device name"),
    Case("cli/out-is-a-file", cli("run", "demo_retrieval", "--out", "{tmp}/file.txt"),
         CLIError, r"exit 2: .*file\.txt' exists and is not a directory"),
    Case("cli/resume-nothing", cli("run", "demo_retrieval", "--resume", "--out", "{tmp}/none"),
         CLIError, r"exit 2: .*cannot resume: .*none' does not exist"),
    Case("cli/report-missing", cli("report", "{tmp}/nothing"), CLIError,
         r"exit 2: .*nothing' holds neither run\.json"),
    Case("cli/list-unknown-tag", cli("list", "--sequences", "cross"), CLIError,
         r"exit 2: attnlab list: error: unknown sequences tag 'cross'; expected one of"),
    Case("cli/demo-steps-0", cli("demo", "--steps", "0"), CLIError,
         r"exit 2: .*--steps must be >= 1"),
    Case("cli/reproduce-only-unknown", cli("reproduce", "--only", "nope", "--out", "{tmp}/r"),
         CLIError, r"exit 2: .*unknown experiment 'nope'"),
    # --- configs, training loop, checkpoints, run folders ------------------------------------
    Case("TrainConfig/unknown-field", lambda t: TrainConfig(learning_rate=0.1), TypeError,
         r"unexpected keyword argument 'learning_rate'"),
    Case("TrainConfig/from-dict-unknown",
         lambda t: TrainConfig.from_dict({"epochs": 2, "lr_rate": 0.1}), ValueError,
         r"unknown TrainConfig field\(s\): lr_rate"),
    Case("TrainConfig/betas-nan", lambda t: TrainConfig(betas=(NAN, 0.9)), ValueError,
         r"TrainConfig\.betas must be two finite numbers"),
    Case("TrainConfig/dist-timeout-nan", lambda t: TrainConfig(dist_timeout_s=NAN), ValueError,
         r"TrainConfig\.dist_timeout_s must be a finite number"),
    Case("TrainConfig/grad-clip-inf", lambda t: TrainConfig(grad_clip=INF), ValueError,
         r"TrainConfig\.grad_clip must be a finite number"),
    Case("TrainConfig/milestones-float",
         lambda t: TrainConfig(schedule="multistep", milestones=(1.5,)), ValueError,
         r"TrainConfig\.milestones must be a sequence of integers"),
    Case("TrainConfig/batch-size-str", lambda t: TrainConfig(batch_size="32"), ValueError,
         r"TrainConfig\.batch_size must be an integer >= 1, got '32'"),
    Case("TrainConfig/monitor", lambda t: TrainConfig(monitor="accuracy"), ValueError,
         r"TrainConfig\.monitor must be one of"),
    Case("TrainConfig/seed-bool", lambda t: TrainConfig(seed=True), ValueError,
         r"TrainConfig\.seed must be an integer"),
    Case("fit/config-dict", tiny_fit(config={"epochs": 1}), TypeError,
         r"config must be a TrainConfig, got dict"),
    Case("fit/resume-str", tiny_fit(resume="yes"), TypeError, r"resume must be True or False"),
    Case("fit/resume-without-run-dir", tiny_fit(resume=True), ValueError,
         r"resume=True needs the run_dir"),
    Case("fit/model-str", tiny_fit(model="net"), TypeError,
         r"model must be a torch\.nn\.Module, got str"),
    Case("fit/empty-train-set",
         tiny_fit(train_set=torch.utils.data.TensorDataset(torch.zeros(0, 2),
                                                           torch.zeros(0, dtype=torch.long))),
         ValueError, r"train_set is empty"),
    Case("fit/callback-type", tiny_fit(callbacks=[print]), TypeError,
         r"callbacks\[0\] must be a Callback"),
    Case("fit/val-monitor-without-val-set",
         tiny_fit(config=TrainConfig(epochs=1, batch_size=4, monitor="val_loss")), ValueError,
         r"TrainConfig\.monitor='val_loss' needs a val_set"),
    Case("fit/run-dir-is-a-file", tiny_fit(run_dir=write_file), OSError,
         r"run_dir .*not-a-folder"),
    Case("evaluate/batch-size-0",
         lambda t: evaluate(nn.Linear(2, 2), torch.utils.data.TensorDataset(
             torch.zeros(2, 2), torch.zeros(2, dtype=torch.long)), batch_size=0),
         ValueError, r"batch_size must be an integer >= 1"),
    Case("load_checkpoint/missing", lambda t: load_checkpoint(t / "last.pt"), FileNotFoundError,
         r"checkpoint .*last\.pt does not exist"),
    Case("load_checkpoint/not-a-dict",
         lambda t: (torch.save([1, 2], t / "list.pt"), load_checkpoint(t / "list.pt")),
         CheckpointError, r"list\.pt holds a list, not a dict"),
    Case("load_checkpoint/garbage",
         lambda t: load_checkpoint(idx_file(t, b"not a checkpoint", "last.pt")),
         CheckpointError, r"cannot load checkpoint .*last\.pt: it is truncated, corrupt"),
    Case("save_checkpoint/state-list", lambda t: save_checkpoint(t / "x.pt", [1]), TypeError,
         r"state must be a dict, got list"),
    Case("RunDirectory/file", lambda t: RunDirectory.create(write_file(t)), ReportError,
         r"unusable run directory: .*not-a-folder' exists and is not a directory"),
    Case("safe_plot_name/path", lambda t: safe_plot_name("../evil"), ValueError,
         r"plot name must be letters, digits"),
]


def test_case_names_are_unique_and_there_are_at_least_100() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "every case must be distinct"
    assert len(CASES) >= 100, f"only {len(CASES)} bad-input cases"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_raises_a_clear_error(case: Case, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("not a folder")
    with pytest.raises(case.error, match=case.match):
        case.call(tmp_path)


# ---------------------------------------------------------------------------------------------
# registry-driven: every mechanism, every floating input and mask


ENTRIES = attnlab.list_mechanisms()


def _mask_names(module: nn.Module, kwargs: dict[str, Any]) -> list[str]:
    names = inspect.signature(module.forward).parameters
    return [n for n in names if (n == "mask" or n.endswith("_mask")) and kwargs.get(n) is not None]


def _module_cases() -> list[Any]:
    cases = []
    for entry in ENTRIES:
        module, args, kwargs = entry.example()
        for name in _mask_names(module, kwargs):
            cases += [
                pytest.param(entry.name, "mask-first-row-only", name, ValueError,
                             rf"^{name} .*shape", id=f"{entry.name}/{name}-broadcast-from-1"),
                pytest.param(entry.name, "mask-float", name, TypeError,
                             rf"^{name} must be a boolean tensor", id=f"{entry.name}/{name}-float"),
                pytest.param(entry.name, "mask-short", name, ValueError, rf"^{name} .*shape",
                             id=f"{entry.name}/{name}-too-short"),
            ]
        arg_names = forward_argument_names(module, len(args))
        for i, x in enumerate(args):
            if isinstance(x, Tensor) and x.is_floating_point():
                arg = re.escape(arg_names[i])
                cases += [
                    pytest.param(entry.name, "arg-int", i, TypeError,
                                 rf"^{arg} must be a floating-point tensor",
                                 id=f"{entry.name}/{arg_names[i]}-int"),
                    pytest.param(entry.name, "arg-unbatched", i, ValueError,
                                 rf"^{arg} must be a \d-D tensor of shape \(B, .*batch first",
                                 id=f"{entry.name}/{arg_names[i]}-unbatched"),
                ]
        cases.append(pytest.param(entry.name, "unknown-keyword", None, TypeError,
                                  "unexpected keyword argument 'not_an_arg'",
                                  id=f"{entry.name}/unknown-keyword"))
    return cases


MODULE_CASES = _module_cases()


@pytest.mark.parametrize(("name", "kind", "which", "error", "match"), MODULE_CASES)
def test_registered_module_rejects_bad_input(
    name: str, kind: str, which: Any, error: type[Exception], match: str
) -> None:
    """Masks that would broadcast from one example, float or short masks, integer or unbatched
    inputs and unknown keywords: each is an error whose message starts with the argument's
    name."""
    entry = next(e for e in ENTRIES if e.name == name)
    module, args, kwargs = entry.example()
    args = list(args)
    if kind == "mask-first-row-only":
        kwargs[which] = kwargs[which][:1]  # (1, ...) for B = 2: must not be shared silently
    elif kind == "mask-float":
        kwargs[which] = kwargs[which].float()
    elif kind == "mask-short":
        kwargs[which] = kwargs[which][..., :-1]
    elif kind == "arg-int":
        args[which] = args[which].round().long()
    elif kind == "arg-unbatched":
        args[which] = args[which][0]
    else:
        kwargs["not_an_arg"] = True
    with pytest.raises(error, match=match):
        module(*args, **kwargs)


def test_module_case_count() -> None:
    # registered mechanisms: 5+ cases each; the total grows with the registry
    assert len(MODULE_CASES) >= 5 * len(ENTRIES) // 2


# ---------------------------------------------------------------------------------------------
# empty batches and zero-length sequences: one consistent behaviour everywhere


def _float_tensors(x: Any) -> list[Tensor]:
    if isinstance(x, Tensor):
        return [x] if x.is_floating_point() else []
    if isinstance(x, (tuple, list)):
        return [t for y in x for t in _float_tensors(y)]
    return []


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_empty_batch_works_everywhere(entry: Any) -> None:
    """B = 0 returns empty outputs (batch dimension 0) with the usual fields, no error."""
    module, args, kwargs = entry.example()
    args = [a[:0] if isinstance(a, Tensor) else a for a in args]
    kwargs = {k: v[:0] if isinstance(v, Tensor) else v for k, v in kwargs.items()}
    out = module(*args, **kwargs)
    assert out._fields[:2] == ("context", "weights")
    for t in _float_tensors(tuple(out)):
        assert t.shape[0] == 0


def _zero_key_inputs(name: str) -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    """The registry example of ``name`` with every attended sequence cut to length 0."""
    entry = next(e for e in ENTRIES if e.name == name)
    module, args, kwargs = entry.example(dtype=torch.float64)
    cut: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
        # name: (indices of args cut along dim 1, mask kwargs cut along their last dim)
        "alternating_coattention": ((0, 1), ("question_mask", "image_mask")),
        "attention_over_attention": ((0, 1), ("document_mask", "query_mask")),
        "attention_via_attention": ((1, 2), ("word_mask", "char_mask")),
        "contextual_meta_embedding": ((0, 1), ("mask",)),
        "feature_wise": ((0,), ("mask",)),
        "meta_embedding": ((0, 1, 2), ("mask",)),
        "parallel_coattention": ((0, 1), ("question_mask", "image_mask")),
        "sliding_window": ((0,), ("mask",)),
        "structured_self_attention": ((0,), ("mask",)),
    }
    indices, mask_names = cut.get(name, ((1, 2), ("mask",)))
    if name == "hierarchical":  # (B, S, W): no word in any sentence
        args = (args[0][:, :, :0],)
    elif name == "multihead":  # cross-attention to an empty memory
        x = args[0]
        args = (x, x[:, :0], x[:, :0])
    else:
        args = tuple(a[:, :0] if i in indices and isinstance(a, Tensor) else a
                     for i, a in enumerate(args))
    for mask_name in mask_names:
        kwargs[mask_name] = kwargs[mask_name][..., :0]
    return module, args, kwargs


ZERO_LENGTH = sorted(
    e.name for e in ENTRIES if _mask_names(e.example()[0], e.example()[2])
)


@pytest.mark.parametrize("name", ZERO_LENGTH)
def test_zero_length_keys_give_zero_context(name: str) -> None:
    """Lk = 0 behaves as "every key masked": finite outputs, weights that are empty or zero,
    a zero context, no error, finite gradients."""
    module, args, kwargs = _zero_key_inputs(name)
    module.train()
    out = module(*args, **kwargs)
    tensors = _float_tensors(tuple(out))
    assert all(torch.isfinite(t).all() for t in tensors)
    if isinstance(out.weights, Tensor):
        assert out.weights.numel() == 0 or bool(out.weights.eq(0).all())
    assert bool(out.context.eq(0).all()), "no key: the context must be zero"
    loss = sum((t * 1.5).sum() for t in tensors if t.requires_grad)
    if isinstance(loss, Tensor):
        loss.backward()
        for p in module.parameters():
            if p.grad is not None:
                assert torch.isfinite(p.grad).all()


@pytest.mark.parametrize("distribution", ["softmax", "sparsemax", "entmax15", "linear", "gumbel",
                                          "gumbel_hard", "categorical"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_attend_with_no_key(distribution: str, need_weights: bool) -> None:
    query = torch.randn(2, 3, 4, requires_grad=True)
    empty = torch.randn(2, 0, 4)
    score = DotScore() if distribution == "softmax" else AdditiveScore(4, 4, hidden_dim=3)
    out = attend(query, empty, empty, score=score, distribution=distribution,
                 need_weights=need_weights)
    assert out.context.shape == (2, 3, 4) and bool(out.context.eq(0).all())
    if out.weights is not None:
        assert out.weights.shape == (2, 3, 0)
    with torch.no_grad():  # the in-place weights path as well
        fast = attend(query, empty, empty, score=DotScore(), need_weights=need_weights)
    assert bool(fast.context.eq(0).all())


def test_nan_in_data_is_not_scanned_but_stays_in_its_row() -> None:
    """Policy: data tensors are not scanned (no device sync per call); NaN flows only where the
    computation takes it. A NaN in one example's keys leaves the other example untouched."""
    module = MultiHeadAttention(8, 2)
    x = torch.randn(2, 5, 8)
    x[1, 2, 0] = math.nan
    out = module(x)
    assert torch.isfinite(out.context[0]).all() and torch.isnan(out.context[1]).any()


def test_data_error_family() -> None:
    """Every data problem is a DataError (a ValueError): one except clause catches them."""
    assert issubclass(CorruptFileError, DataError) and issubclass(DownloadError, DataError)
    assert issubclass(MissingDataError, FileNotFoundError) and issubclass(DataError, ValueError)
