"""The README's main job: the demo learns the task and its attention finds the matching pair."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attnlab.cli import main
from attnlab.demo import make_retrieval_batch, run_demo


def test_retrieval_batch_is_consistent() -> None:
    g = torch.Generator().manual_seed(0)
    keys, values, query, mask, target = make_retrieval_batch(64, generator=g)
    assert mask.any() and (~mask).any()
    assert torch.all(mask.gather(1, target[:, None]))  # the target pair is a real pair
    assert torch.equal(keys.gather(1, target[:, None]).squeeze(1), query)
    for row in keys:  # keys are distinct, so the answer is unambiguous
        assert len(set(row.tolist())) == len(row)


def test_demo_learns_and_attends_to_the_matching_pair(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    result = run_demo(steps=300, seed=1, out_dir=tmp_path, progress=False)
    assert result.accuracy > 0.9
    assert result.attention_on_target > 0.8
    assert result.plot is not None and result.plot.stat().st_size > 0


def test_demo_cli_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--steps", "5", "--no-plot", "--quiet", "--out", str(tmp_path),
                 "--min-accuracy", "1.01"])
    assert code == 1  # the minimum cannot be met: the exit status says so
    assert "held-out accuracy" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["demo", "--steps", "0"])
