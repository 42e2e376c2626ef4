"""The calls ``attnlab bench`` measures: one module-level *workload* per family.

A workload is ``workload(*, variant, <sizes>, seed=0) -> run``: it builds the module(s), inputs,
parameters and upstream gradients of one variant (attnlab's implementation or a peer's) and
returns the zero-argument ``run`` that performs the measured call. Everything is allocated before
``run`` is returned, so that timing and peak memory (:mod:`attnlab.bench.measure`) see only the
call. Keyword arguments are plain JSON values: the memory child rebuilds the same workload from
them in a fresh process. Inputs come from a seeded generator and module parameters are created
under :func:`torch.random.fork_rng`, so the caller's random state is left alone and attnlab and
its peer see the same numbers.

Modes: ``"inference"`` runs under :func:`torch.inference_mode` with modules in ``eval()``;
``"train"`` runs forward, then backward of a fixed upstream gradient (or a loss) into the inputs
and every parameter. The peers compute the same function as attnlab (the test suite pins each
pairing: ``nn.MultiheadAttention``, masked dense attention, ``F.grid_sample``/``F.affine_grid``,
kornia's warps).

Heavy imports (models, kornia) happen inside the workloads, so that listing the suites stays
fast and a missing optional peer only fails its own variant.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core.scores import AdditiveScore, default_chunk_bytes

__all__ = [
    "MODES",
    "additive_workload",
    "chunked_tanh_scores",
    "kernel_workload",
    "local_workload",
    "multihead_flops",
    "multihead_workload",
    "naive_additive_scores",
    "resnet_workload",
    "sampler_workload",
    "st_train_workload",
    "weight_selection_workload",
]

MODES: tuple[str, ...] = ("inference", "train")
"""Values of ``mode``."""

Run = Callable[[], object]


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Module initialisation from ``seed`` without touching the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _check_choice(value: str, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _clear_grads(*items: nn.Module | Tensor | None) -> None:
    """``grad = None`` on tensors and on every parameter of modules (a fresh training step)."""
    for item in items:
        if isinstance(item, nn.Module):
            item.zero_grad(set_to_none=True)
        elif isinstance(item, Tensor):
            item.grad = None


def _inference(module: nn.Module | None, call: Run) -> Run:
    if module is not None:
        module.eval()

    def run() -> object:
        with torch.inference_mode():
            return call()

    return run


# ---------------------------------------------------------------------------------------------
# multi-head attention


MULTIHEAD_VARIANTS: tuple[str, ...] = ("attnlab", "nn.MHA", "sdpa", "linear+sdpa")


def multihead_flops(batch: int, length: int, dim: int, *, projections: bool = True) -> float:
    """FLOPs of multi-head self-attention: ``4 B L^2 E`` for ``q k^T`` and ``a v``, plus
    ``8 B L E^2`` for the four projections.

    Example:
        >>> multihead_flops(1, 2, 4, projections=False)
        64.0
    """
    core = 4.0 * batch * length * length * dim
    return core + (8.0 * batch * length * dim * dim if projections else 0.0)


def multihead_workload(
    *,
    variant: str,
    batch: int,
    length: int,
    dim: int,
    heads: int,
    weights: bool = False,
    padding: bool = False,
    mode: str = "inference",
    seed: int = 0,
) -> Run:
    """Multi-head self-attention ``(B, L, E)`` with ``heads`` heads.

    Variants: ``"attnlab"`` (:class:`~attnlab.mechanisms.multihead.MultiHeadAttention` with the
    parameters of the ``nn.MultiheadAttention`` built from the same seed), ``"nn.MHA"``
    (``need_weights=weights, average_attn_weights=False``), ``"sdpa"`` (the attention core only:
    ``F.scaled_dot_product_attention`` on pre-projected ``(B, H, L, Dh)`` tensors) and
    ``"linear+sdpa"`` (in-projection, SDPA, out-projection: the least any implementation does).
    ``padding`` masks the last quarter of the keys of every sequence.

    Example:
        >>> run = multihead_workload(variant="attnlab", batch=1, length=8, dim=8, heads=2)
        >>> context, weights = run()
        >>> tuple(context.shape), weights is None
        ((1, 8, 8), True)
    """
    _check_choice(variant, "variant", MULTIHEAD_VARIANTS)
    _check_choice(mode, "mode", MODES)
    if weights and variant in ("sdpa", "linear+sdpa"):
        raise ValueError(f"variant {variant!r} returns no weights: weights must be False")
    train = mode == "train"
    g = torch.Generator().manual_seed(seed)
    with _seeded(seed):
        theirs = nn.MultiheadAttention(dim, heads, batch_first=True)
    x = torch.randn(batch, length, dim, generator=g, requires_grad=train)
    keep = torch.ones(batch, length, dtype=torch.bool)
    if padding:
        keep[:, length - length // 4 :] = False  # the last quarter of every sequence is padding
    module, call, inputs = _multihead_call(
        variant, theirs, x, keep if padding else None, weights=weights, generator=g, train=train
    )
    if not train:
        return _inference(module, call)
    if module is not None:
        module.train()

    def step() -> None:
        _clear_grads(module, *inputs)
        context, attn = call()
        loss = context.sum() if attn is None else context.sum() + attn.sum()
        loss.backward()

    return step


def _multihead_call(
    variant: str,
    theirs: nn.MultiheadAttention,
    x: Tensor,
    keep: Tensor | None,
    *,
    weights: bool,
    generator: torch.Generator,
    train: bool,
) -> tuple[nn.Module | None, Callable[[], tuple[Tensor, Tensor | None]], tuple[Tensor, ...]]:
    """The module timed (``None``: none), the call ``() -> (context, weights)`` of one variant of
    :func:`multihead_workload`, and the input tensors whose gradients a training step clears."""
    from attnlab.mechanisms.multihead import MultiHeadAttention

    batch, length, dim = x.shape
    heads = theirs.num_heads
    head_dim = dim // heads
    sdpa_mask = None if keep is None else keep[:, None, None, :]  # (b, 1, 1, j)
    if variant == "attnlab":
        ours = MultiHeadAttention.from_torch(theirs)

        def attnlab() -> tuple[Tensor, Tensor | None]:
            out = ours(x, mask=keep, need_weights=weights)
            return out.context, out.weights

        return ours, attnlab, (x,)
    if variant == "nn.MHA":
        key_padding = None if keep is None else ~keep

        def call() -> tuple[Tensor, Tensor | None]:
            return theirs(
                x, x, x, key_padding_mask=key_padding, need_weights=weights,
                average_attn_weights=False,
            )

        return theirs, call, (x,)
    if variant == "sdpa":
        q, k, v = (
            torch.randn(batch, heads, length, head_dim, generator=generator, requires_grad=train)
            for _ in range(3)
        )

        def sdpa() -> tuple[Tensor, Tensor | None]:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=sdpa_mask), None

        return None, sdpa, (x, q, k, v)
    in_w, in_b = theirs.in_proj_weight, theirs.in_proj_bias
    out_w, out_b = theirs.out_proj.weight, theirs.out_proj.bias

    def linear_sdpa() -> tuple[Tensor, Tensor | None]:
        qkv = F.linear(x, in_w, in_b).unflatten(-1, (3, heads, head_dim))
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, b, h, i, d)
        context = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=sdpa_mask)
        return F.linear(context.transpose(1, 2).reshape(batch, length, dim), out_w, out_b), None

    return theirs, linear_sdpa, (x,)


# ---------------------------------------------------------------------------------------------
# weights of selected heads


SELECTION_VARIANTS: tuple[str, ...] = ("selection", "full", "fused")


def weight_selection_workload(
    *,
    variant: str,
    batch: int,
    length: int,
    dim: int,
    heads: int,
    selected_heads: int = 1,
    seed: int = 0,
) -> Run:
    """Multi-head self-attention ``(B, L, E)`` at inference with the weights of a few heads.

    Variants of one :class:`~attnlab.mechanisms.multihead.MultiHeadAttention`: ``"selection"``
    (``need_weights=WeightSelection(heads=range(selected_heads))``, every query row: the fused
    context plus the weights of those heads), ``"full"`` (``need_weights=True``: every head's
    weights) and ``"fused"`` (``need_weights=False``: the context alone).

    Example:
        >>> run = weight_selection_workload(variant="selection", batch=1, length=8, dim=8,
        ...                                 heads=2)
        >>> context, weights = run()
        >>> tuple(context.shape), tuple(weights.shape)
        ((1, 8, 8), (1, 1, 8, 8))
    """
    from attnlab.core.weight_selection import WeightSelection
    from attnlab.mechanisms.multihead import MultiHeadAttention

    _check_choice(variant, "variant", SELECTION_VARIANTS)
    if not 1 <= selected_heads <= heads:
        raise ValueError(f"selected_heads must be in [1, heads={heads}], got {selected_heads}")
    g = torch.Generator().manual_seed(seed)
    with _seeded(seed):
        module = MultiHeadAttention(dim, heads)
    x = torch.randn(batch, length, dim, generator=g)
    need_weights: bool | WeightSelection = variant == "full"
    if variant == "selection":
        need_weights = WeightSelection(heads=range(selected_heads))

    def call() -> tuple[Tensor, Tensor | None]:
        out = module(x, need_weights=need_weights)
        return out.context, out.weights

    return _inference(module, call)


# ---------------------------------------------------------------------------------------------
# additive attention


ADDITIVE_VARIANTS: tuple[str, ...] = ("chunked", "naive", "chunked-tanh")


def naive_additive_scores(score: AdditiveScore, query: Tensor, key: Tensor) -> Tensor:
    """The literal formula ``v^T tanh(W q_i + U k_j)``, materialising ``(B, Lq, Lk, H)``.

    Example:
        >>> s = AdditiveScore(4, 4, hidden_dim=3)
        >>> q, k = torch.randn(2, 5, 4), torch.randn(2, 6, 4)
        >>> torch.allclose(naive_additive_scores(s, q, k), s(q, k), atol=1e-6)
        True
    """
    q = score.query_proj(query).unsqueeze(2)  # (b, i, 1, h)
    k = score.key_proj(key).unsqueeze(1)  # (b, 1, j, h)
    return torch.tanh(q + k) @ score.v  # (b, i, j)


def chunked_tanh_scores(score: AdditiveScore, query: Tensor, key: Tensor) -> Tensor:
    """Forward-only tiling of the additive score with ``torch.tanh`` itself (the ablation that
    separates the gain of the tiling from that of evaluating ``tanh`` as ``2 sigmoid(2x) - 1``).

    Example:
        >>> s = AdditiveScore(4, 4, hidden_dim=3)
        >>> q, k = torch.randn(2, 5, 4), torch.randn(2, 6, 4)
        >>> with torch.no_grad():
        ...     torch.allclose(chunked_tanh_scores(s, q, k), s(q, k), atol=1e-6)
        True
    """
    q, k, v = score.query_proj(query), score.key_proj(key), score.v
    batch, q_len, hidden = q.shape
    k_len = k.shape[1]
    rows = max(1, default_chunk_bytes(q.device) // (k_len * hidden * q.element_size()))
    rows = min(rows, q_len)
    out = q.new_empty(batch, q_len, k_len)
    buffer = q.new_empty(rows, k_len, hidden)
    for b in range(batch):
        for i0 in range(0, q_len, rows):
            n = min(rows, q_len - i0)
            tile = buffer[:n]
            torch.add(q[b, i0 : i0 + n, None], k[b, None], out=tile)
            out[b, i0 : i0 + n] = tile.tanh_() @ v
    return out


def additive_workload(
    *,
    variant: str,
    batch: int,
    length: int,
    hidden: int,
    mode: str = "inference",
    seed: int = 0,
) -> Run:
    """Additive (Bahdanau) scores ``e_bij = v^T tanh(W q_bi + U k_bj)``, ``Lq = Lk = length``,
    query, key and hidden sizes ``hidden``.

    Variants: ``"chunked"`` (:class:`~attnlab.core.scores.AdditiveScore`: bounded-memory tiles,
    recomputing backward), ``"naive"`` (:func:`naive_additive_scores`) and ``"chunked-tanh"``
    (:func:`chunked_tanh_scores`, inference only).

    Example:
        >>> run = additive_workload(variant="naive", batch=2, length=4, hidden=8)
        >>> tuple(run().shape)
        (2, 4, 4)
    """
    _check_choice(variant, "variant", ADDITIVE_VARIANTS)
    _check_choice(mode, "mode", MODES)
    if variant == "chunked-tanh" and mode == "train":
        raise ValueError("variant 'chunked-tanh' is inference only: mode must be 'inference'")
    g = torch.Generator().manual_seed(seed)
    with _seeded(seed):
        score = AdditiveScore(hidden, hidden, hidden_dim=hidden)
    train = mode == "train"
    query = torch.randn(batch, length, hidden, generator=g, requires_grad=train)
    key = torch.randn(batch, length, hidden, generator=g, requires_grad=train)
    fn: Callable[[AdditiveScore, Tensor, Tensor], Tensor] = {
        "chunked": lambda s, q, k: s(q, k),
        "naive": naive_additive_scores,
        "chunked-tanh": chunked_tanh_scores,
    }[variant]
    if not train:
        return _inference(score, lambda: fn(score, query, key))
    upstream = torch.randn(batch, length, length, generator=g)

    def step() -> None:
        _clear_grads(score, query, key)
        fn(score, query, key).backward(upstream)

    return step


# ---------------------------------------------------------------------------------------------
# local attention


LOCAL_VARIANTS: tuple[str, ...] = ("local", "global", "global-sdpa")


def local_workload(
    *,
    variant: str,
    length: int,
    dim: int,
    window: int,
    mode: str = "inference",
    seed: int = 0,
) -> Run:
    """Single-head scaled dot-product attention ``(1, L, dim)`` in which query ``i`` sees the
    keys ``|i - j| <= (window - 1) / 2``.

    Variants: ``"local"`` (:func:`~attnlab.mechanisms.local.sliding_window_attention`: blocks
    of queries against the keys their windows reach, windowed weights returned), ``"global"``
    (:func:`~attnlab.core.attend.dot_product_attention` with the dense ``(1, L, L)`` band mask,
    built before the call, dense weights returned: the same information) and ``"global-sdpa"``
    (the same masked attention through ``F.scaled_dot_product_attention``, no weights).

    Example:
        >>> run = local_workload(variant="local", length=16, dim=4, window=5)
        >>> tuple(run().shape)
        (1, 16, 4)
    """
    from attnlab.core.attend import dot_product_attention
    from attnlab.core.masks import band_mask
    from attnlab.mechanisms.local import sliding_window_attention

    _check_choice(variant, "variant", LOCAL_VARIANTS)
    _check_choice(mode, "mode", MODES)
    g = torch.Generator().manual_seed(seed)
    train = mode == "train"
    q, k, v = (torch.randn(1, length, dim, generator=g, requires_grad=train) for _ in range(3))
    upstream = torch.randn(1, length, dim, generator=g)
    call: Callable[[], Tensor]
    if variant == "local":

        def call() -> Tensor:
            return sliding_window_attention(q, k, v, window_size=window).context

    else:
        mask = band_mask(length, window_size=window).unsqueeze(0)  # (1, i, j)
        need_weights = variant == "global"

        def call() -> Tensor:
            context, _ = dot_product_attention(
                q, k, v, scale=dim**-0.5, mask=mask, need_weights=need_weights
            )
            return context

    if not train:
        return _inference(None, call)

    def step() -> None:
        _clear_grads(q, k, v)
        call().backward(upstream)

    return step


def local_dense_gib(mode: str, length: int) -> float:
    """Rough working set of the dense variants: a boolean mask and a few ``L x L`` float32
    buffers (inference: additive mask and weights; train: five, with the gradients).

    Example:
        >>> local_dense_gib("inference", 16384)
        2.25
    """
    buffers = 2 if mode == "inference" else 5
    return (length * length * (1 + 4 * buffers)) / 2**30


# ---------------------------------------------------------------------------------------------
# kernel attention


KERNEL_VARIANTS: tuple[str, ...] = ("linear", "softmax")


def kernel_num_features(dim: int) -> int:
    """``m = round(d ln d)``, :class:`~attnlab.mechanisms.kernel.KernelAttention`'s default.

    Example:
        >>> kernel_num_features(64)
        266
    """
    return max(1, round(dim * math.log(dim)))


def kernel_workload(
    *,
    variant: str,
    length: int,
    dim: int,
    batch: int = 1,
    seed: int = 0,
) -> Run:
    """Inference of self-attention over ``(B, L, dim)`` without weights.

    Variants: ``"linear"`` (:class:`~attnlab.mechanisms.kernel.KernelAttention`'s linear-time
    path, ``need_weights=False``, ``m = round(d ln d)`` random features) and ``"softmax"``
    (exact softmax attention, ``F.scaled_dot_product_attention``: torch's fused kernel, which
    also never stores the ``L x L`` weights).

    Example:
        >>> run = kernel_workload(variant="linear", length=32, dim=8)
        >>> tuple(run().shape)
        (1, 32, 8)
    """
    from attnlab.mechanisms.kernel import KernelAttention

    _check_choice(variant, "variant", KERNEL_VARIANTS)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, dim, generator=g) / dim**0.25
    if variant == "linear":
        attention = KernelAttention(dim, num_features=kernel_num_features(dim), seed=seed)
        return _inference(attention, lambda: attention(x, need_weights=False).context)
    return _inference(None, lambda: F.scaled_dot_product_attention(x, x, x))


def kernel_flops(variant: str, length: int, dim: int, batch: int = 1) -> float:
    """FLOPs: softmax ``4 B L^2 d``; linear ``8 B L m d`` (features of queries and keys, the
    ``phi(k)^T v`` summary and its product with ``phi(q)``).

    Example:
        >>> kernel_flops("softmax", 2, 3)
        48.0
    """
    if variant == "softmax":
        return 4.0 * batch * length * length * dim
    return 8.0 * batch * length * kernel_num_features(dim) * dim


# ---------------------------------------------------------------------------------------------
# SE-ResNet-50 / ResNet-50


RESNET_VARIANTS: tuple[str, ...] = ("SE-ResNet-50", "ResNet-50")


def _resnet(variant: str) -> nn.Module:
    from attnlab.vision.resnet import resnet50, se_resnet50

    _check_choice(variant, "variant", RESNET_VARIANTS)
    return se_resnet50() if variant == "SE-ResNet-50" else resnet50()


def resnet_workload(*, variant: str, batch: int, image_size: int = 224, seed: int = 0) -> Run:
    """Inference of :func:`~attnlab.vision.resnet.se_resnet50` or
    :func:`~attnlab.vision.resnet.resnet50` (random weights: they do not change the time) on
    ``(B, 3, S, S)`` images, ``eval()`` mode, :func:`torch.inference_mode`.

    Example:
        >>> run = resnet_workload(variant="ResNet-50", batch=1, image_size=32)  # doctest: +SKIP
        >>> tuple(run().logits.shape)  # doctest: +SKIP
        (1, 1000)
    """
    with _seeded(seed):
        model = _resnet(variant)
    x = torch.randn(batch, 3, image_size, image_size, generator=torch.Generator().manual_seed(seed))
    return _inference(model, lambda: model(x))


def resnet_flops(variant: str, batch: int, image_size: int = 224) -> float:
    """FLOPs of one forward pass as ``torch.utils.flop_counter`` counts them (meta device;
    ``batch`` times the count of one image, which is cached).

    Example:
        >>> round(resnet_flops("ResNet-50", 1) / 2e9, 2)  # doctest: +SKIP
        3.86
    """
    _check_choice(variant, "variant", RESNET_VARIANTS)
    return batch * _resnet_flops_per_image(variant, image_size)


@functools.lru_cache(maxsize=8)
def _resnet_flops_per_image(variant: str, image_size: int) -> float:
    from attnlab.vision.complexity import count_flops
    from attnlab.vision.resnet import resnet50, se_resnet50

    factory = se_resnet50 if variant == "SE-ResNet-50" else resnet50
    x = torch.empty(1, 3, image_size, image_size, device="meta")
    return float(count_flops(factory(device="meta"), x))


# ---------------------------------------------------------------------------------------------
# ST-CNN / CNN train step


def st_train_workload(
    *,
    variant: str,
    batch: int,
    image_size: int = 42,
    num_classes: int = 10,
    seed: int = 0,
) -> Run:
    """One SGD training step (forward, cross-entropy, backward, update) of a distorted-MNIST
    classifier of :mod:`attnlab.architectures.stn_classifiers`
    (``"cnn"``, ``"st_cnn_aff"``, ``"st_cnn_tps"``, ...) on ``(B, 1, S, S)`` images.

    Example:
        >>> run = st_train_workload(variant="cnn", batch=2, image_size=28)  # doctest: +SKIP
        >>> run()  # doctest: +SKIP
    """
    from attnlab.architectures.stn_classifiers import build_model

    g = torch.Generator().manual_seed(seed)
    with _seeded(seed):
        model = build_model(variant, input_size=(image_size, image_size), num_classes=num_classes)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    images = torch.rand(batch, 1, image_size, image_size, generator=g)
    labels = torch.randint(0, num_classes, (batch,), generator=g)

    def step() -> None:
        out = model(images)
        logits = out if isinstance(out, Tensor) else out[0]
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


# ---------------------------------------------------------------------------------------------
# sampler and grids


SAMPLER_KINDS: tuple[str, ...] = ("sample", "affine", "tps")
SAMPLER_VARIANTS: tuple[str, ...] = ("attnlab", "torch", "kornia")


def _affine_thetas(batch: int, g: torch.Generator) -> Tensor:
    """Near-identity affine matrices ``(B, 2, 3)`` (normalised output -> input)."""
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return identity + 0.1 * torch.randn(batch, 2, 3, generator=g)


def sampler_workload(
    *,
    variant: str,
    kind: str,
    batch: int,
    channels: int,
    size: int,
    seed: int = 0,
) -> Run:
    """Warping ``(B, C, S, S)`` images to ``S x S`` (inference, ``align_corners=False``).

    Kinds and variants:

    * ``"sample"``: bilinear sampling at a given grid: ``"attnlab"``
      (:func:`~attnlab.vision.sampler.bilinear_sample`) vs ``"torch"`` (``F.grid_sample``);
    * ``"affine"``: grid generation and sampling from an affine ``theta``: ``"attnlab"``
      (:func:`~attnlab.vision.grids.affine_grid` + ``bilinear_sample``) vs ``"torch"``
      (``F.affine_grid`` + ``F.grid_sample``) vs ``"kornia"`` (``warp_affine`` with the same
      map in pixels, converted before the call);
    * ``"tps"``: a 16-point thin-plate spline from its control-point targets: ``"attnlab"``
      (:func:`~attnlab.vision.grids.tps_grid` + ``bilinear_sample``) vs ``"kornia"``
      (``get_tps_transform`` + ``warp_image_tps``, the composition kornia documents; it
      centres the spline's kernel at the targets, so between control points its warp differs
      slightly from Bookstein's spline of ours: the same work, a slightly different function).

    Example:
        >>> run = sampler_workload(variant="attnlab", kind="tps", batch=1, channels=2, size=8)
        >>> tuple(run().shape)
        (1, 2, 8, 8)
    """
    _check_choice(kind, "kind", SAMPLER_KINDS)
    _check_choice(variant, "variant", SAMPLER_VARIANTS)
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, channels, size, size, generator=g)
    theta = _affine_thetas(batch, g)
    if kind == "sample":
        return _inference(None, _sample_call(variant, image, theta))
    if kind == "affine":
        return _inference(None, _affine_call(variant, image, theta))
    return _inference(None, _tps_call(variant, image, g))


def _sample_call(variant: str, image: Tensor, theta: Tensor) -> Callable[[], Tensor]:
    """Kind ``"sample"`` of :func:`sampler_workload`: sampling at a given affine grid."""
    from attnlab.vision.sampler import bilinear_sample

    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    if variant == "attnlab":
        return lambda: bilinear_sample(image, grid)
    if variant == "torch":
        return lambda: F.grid_sample(image, grid, align_corners=False)
    raise ValueError("kind 'sample' has no kornia variant: variant must not be 'kornia'")


def _affine_call(variant: str, image: Tensor, theta: Tensor) -> Callable[[], Tensor]:
    """Kind ``"affine"`` of :func:`sampler_workload`: grid from ``theta``, then sampling."""
    from attnlab.vision.grids import affine_grid
    from attnlab.vision.sampler import bilinear_sample

    batch, _, size, _ = image.shape
    if variant == "attnlab":
        return lambda: bilinear_sample(image, affine_grid(theta, (size, size)))
    if variant == "torch":

        def call() -> Tensor:
            grid = F.affine_grid(theta, list(image.shape), align_corners=False)
            return F.grid_sample(image, grid, align_corners=False)

        return call
    from kornia.geometry.conversions import denormalize_homography
    from kornia.geometry.transform import warp_affine

    # theta maps normalised output -> input; kornia wants pixel input -> output
    full = torch.cat((theta, torch.tensor([0.0, 0.0, 1.0]).expand(batch, 1, 3)), dim=1)
    pixel = denormalize_homography(
        torch.linalg.inv(full), (size, size), (size, size), align_corners=False
    )[:, :2]
    return lambda: warp_affine(image, pixel, (size, size), align_corners=False)


def _tps_call(variant: str, image: Tensor, generator: torch.Generator) -> Callable[[], Tensor]:
    """Kind ``"tps"`` of :func:`sampler_workload`: a 16-point spline from random targets."""
    from attnlab.vision.grids import regular_control_points, tps_grid
    from attnlab.vision.sampler import bilinear_sample

    batch, _, size, _ = image.shape
    control = regular_control_points()  # (k, 2): the paper's 4 x 4
    noise = torch.randn(batch, *control.shape, generator=generator)
    targets = (control + 0.05 * noise).contiguous()
    if variant == "attnlab":
        return lambda: bilinear_sample(image, tps_grid(targets, (size, size)))
    if variant == "torch":
        raise ValueError("kind 'tps' has no torch variant: variant must not be 'torch'")
    from kornia.geometry.transform import get_tps_transform, warp_image_tps

    centres = control.expand(batch, -1, -1)

    def call() -> Tensor:
        kernel_weights, affine_weights = get_tps_transform(centres, targets)
        return warp_image_tps(image, targets, kernel_weights, affine_weights, align_corners=False)

    return call
