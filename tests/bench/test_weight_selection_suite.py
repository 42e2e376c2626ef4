"""The ``weight_selection`` bench suite: its three variants compute the same attention."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from attnlab.bench.suite import get_suite
from attnlab.bench.workloads import weight_selection_workload


def test_variants_agree() -> None:
    sizes = {"batch": 2, "length": 12, "dim": 16, "heads": 4, "selected_heads": 2}

    def run(variant: str) -> tuple[Tensor, Tensor | None]:
        out = weight_selection_workload(variant=variant, **sizes)()
        assert isinstance(out, tuple)
        return out[0], out[1]

    context, weights = run("selection")
    full_context, full_weights = run("full")
    fused_context, fused_weights = run("fused")
    assert weights is not None and full_weights is not None and fused_weights is None
    assert torch.equal(context, fused_context)
    torch.testing.assert_close(context, full_context, rtol=1e-5, atol=1e-6)
    assert weights.shape == (2, 2, 12, 12)
    torch.testing.assert_close(weights, full_weights[:, :2], rtol=1e-6, atol=1e-7)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="variant must be one of"):
        weight_selection_workload(variant="sdpa", batch=1, length=4, dim=8, heads=2)
    with pytest.raises(ValueError, match=r"selected_heads must be in \[1, heads=2\], got 3"):
        weight_selection_workload(
            variant="selection", batch=1, length=4, dim=8, heads=2, selected_heads=3
        )


def test_suite_is_registered_with_the_issue_sizes() -> None:
    suite = get_suite("weight_selection")
    full = suite.sizes["full"]
    assert (full["batch"], full["length"], full["dim"], full["heads"]) == (1, 4096, 512, 8)
    assert full["selected_heads"] == 1
    assert [p.name for p in suite.peers] == ["full", "fused"]
