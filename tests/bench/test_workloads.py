"""The benchmark workloads compare like with like: attnlab's variant and each peer's compute the
same function on the same inputs (tiny sizes), and bad arguments are refused by name."""

from __future__ import annotations

import pytest

from attnlab.bench.workloads import (
    additive_workload,
    kernel_flops,
    kernel_workload,
    local_dense_gib,
    local_workload,
    multihead_flops,
    multihead_workload,
    sampler_workload,
    st_train_workload,
)
from helpers import assert_close

MHA = {"batch": 2, "length": 12, "dim": 16, "heads": 4}


@pytest.mark.parametrize(("weights", "padding"), [(False, False), (True, False), (True, True)])
def test_multihead_attnlab_equals_nn_mha(weights: bool, padding: bool) -> None:
    ours, ours_w = multihead_workload(variant="attnlab", weights=weights, padding=padding, **MHA)()
    theirs, theirs_w = multihead_workload(
        variant="nn.MHA", weights=weights, padding=padding, **MHA
    )()
    assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    if weights:
        assert ours_w is not None and theirs_w is not None
        assert_close(ours_w, theirs_w, rtol=1e-4, atol=1e-6)
        if padding:
            assert bool((ours_w[..., -3:] == 0).all()) and bool((ours_w[..., :-3] > 0).any())
    if not weights:
        minimal, _ = multihead_workload(variant="linear+sdpa", **MHA)()
        assert_close(ours, minimal, rtol=1e-4, atol=1e-5)


def test_multihead_train_steps_run_and_refuse_weights_without_weights() -> None:
    for variant in ("attnlab", "nn.MHA", "sdpa", "linear+sdpa"):
        assert multihead_workload(variant=variant, mode="train", **MHA)() is None
    with pytest.raises(ValueError, match="weights"):
        multihead_workload(variant="sdpa", weights=True, **MHA)
    with pytest.raises(ValueError, match="variant"):
        multihead_workload(variant="flash", **MHA)
    with pytest.raises(ValueError, match="mode"):
        multihead_workload(variant="attnlab", mode="eval", **MHA)
    assert multihead_flops(1, 2, 4) == 4 * 2 * 2 * 4 + 8 * 2 * 4 * 4


def test_additive_variants_agree() -> None:
    shape = {"batch": 2, "length": 9, "hidden": 8}
    naive = additive_workload(variant="naive", **shape)()
    for variant in ("chunked", "chunked-tanh"):
        assert_close(additive_workload(variant=variant, **shape)(), naive, rtol=1e-5, atol=1e-6)
    for variant in ("chunked", "naive"):
        assert additive_workload(variant=variant, mode="train", **shape)() is None
    with pytest.raises(ValueError, match="mode"):
        additive_workload(variant="chunked-tanh", mode="train", **shape)


def test_local_equals_masked_global_attention() -> None:
    shape = {"length": 40, "dim": 8, "window": 7}
    local = local_workload(variant="local", **shape)()
    for variant in ("global", "global-sdpa"):
        assert_close(local_workload(variant=variant, **shape)(), local, rtol=1e-5, atol=1e-6)
    assert local_workload(variant="local", mode="train", **shape)() is None
    assert local_dense_gib("train", 1024) > local_dense_gib("inference", 1024)


def test_kernel_variants_run_and_count() -> None:
    linear = kernel_workload(variant="linear", length=16, dim=8)()
    softmax = kernel_workload(variant="softmax", length=16, dim=8)()
    assert linear.shape == softmax.shape == (1, 16, 8)
    assert kernel_flops("softmax", 16, 8) == 4 * 16 * 16 * 8
    assert kernel_flops("linear", 2 * 16384, 64) == 2 * kernel_flops("linear", 16384, 64)


def test_sampler_peers_warp_the_same_way() -> None:
    shape = {"batch": 2, "channels": 3, "size": 10}
    ours = sampler_workload(variant="attnlab", kind="sample", **shape)()
    assert_close(ours, sampler_workload(variant="torch", kind="sample", **shape)())
    ours = sampler_workload(variant="attnlab", kind="affine", **shape)()
    assert_close(ours, sampler_workload(variant="torch", kind="affine", **shape)(),
                 rtol=1e-5, atol=1e-5)
    pytest.importorskip("kornia")
    # the pixel-space matrix given to kornia's warp_affine is the same map
    assert_close(ours, sampler_workload(variant="kornia", kind="affine", **shape)(),
                 rtol=1e-4, atol=1e-4)
    tps = sampler_workload(variant="attnlab", kind="tps", **shape)()
    kornia_tps = sampler_workload(variant="kornia", kind="tps", **shape)()
    # kornia's get_tps_transform builds a slightly different spline between the control points
    # (pinned in tests/vision/test_grids.py): same work, so only the output layout is compared
    assert tps.shape == kornia_tps.shape == (2, 3, 10, 10)
    assert bool(tps.isfinite().all()) and bool(kornia_tps.isfinite().all())
    with pytest.raises(ValueError, match="variant"):
        sampler_workload(variant="kornia", kind="sample", **shape)
    with pytest.raises(ValueError, match="kind"):
        sampler_workload(variant="attnlab", kind="perspective", **shape)


def test_st_train_steps_run() -> None:
    for variant in ("cnn", "st_cnn_aff"):
        assert st_train_workload(variant=variant, batch=2, image_size=28)() is None
