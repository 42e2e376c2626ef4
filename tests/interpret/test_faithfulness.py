"""faithfulness(): deletion and insertion curves on a toy model whose right ranking is known."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from attnlab.interpret import faithfulness
from reference.faithfulness import faithfulness_loop

L = 8


def _only_token_3(x: Tensor) -> Tensor:
    """P(class) depends on token 3 only: high when it is present (1), 0.5 when removed (0)."""
    return torch.sigmoid(6.0 * x[:, 3].float())


def _inputs(batch: int = 16) -> Tensor:
    return torch.ones(batch, L)


def _true_ranking(batch: int = 16) -> Tensor:
    ranking = torch.zeros(batch, L)
    ranking[:, 3] = 1.0
    return ranking


def _random_rankings(batch: int = 16, seed: int = 0) -> Tensor:
    return torch.rand(batch, L, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("steps", [4, 8, 5])
def test_the_right_ranking_beats_random_ones(steps: int) -> None:
    x, right, random = _inputs(), _true_ranking(), _random_rankings()
    deletion = faithfulness(_only_token_3, x, right, steps=steps, mode="deletion")
    deletion_random = faithfulness(_only_token_3, x, random, steps=steps, mode="deletion")
    insertion = faithfulness(_only_token_3, x, right, steps=steps, mode="insertion")
    insertion_random = faithfulness(_only_token_3, x, random, steps=steps, mode="insertion")
    assert deletion.auc.mean() < deletion_random.auc.mean()
    assert insertion.auc.mean() > insertion_random.auc.mean()
    # the right ranking is the best possible: no random ranking does better on any example
    assert (deletion.auc <= deletion_random.auc + 1e-12).all()
    assert (insertion.auc >= insertion_random.auc - 1e-12).all()


def test_curves_start_and_end_where_they_must() -> None:
    x, ranking = _inputs(4), _random_rankings(4)
    full, empty = float(_only_token_3(x)[0]), float(_only_token_3(torch.zeros(1, L))[0])
    deletion = faithfulness(_only_token_3, x, ranking, steps=L, mode="deletion")
    insertion = faithfulness(_only_token_3, x, ranking, steps=L, mode="insertion")
    assert deletion.curve[:, 0].eq(full).all() and deletion.curve[:, -1].eq(empty).all()
    assert insertion.curve[:, 0].eq(empty).all() and insertion.curve[:, -1].eq(full).all()
    torch.testing.assert_close(deletion.fractions, torch.linspace(0, 1, L + 1, dtype=torch.float64))


@pytest.mark.parametrize("mode", ["deletion", "insertion"])
def test_auc_is_in_the_unit_interval_and_rankings_determine_curves(mode: str) -> None:
    torch.manual_seed(0)
    weights = torch.randn(L)

    def predict(x: Tensor) -> Tensor:
        return torch.sigmoid(x @ weights)

    x = torch.randn(6, L)
    ranking = torch.randn(6, L)
    a = faithfulness(predict, x, ranking, steps=5, mode=mode)
    b = faithfulness(predict, x, ranking.clone(), steps=5, mode=mode)
    assert torch.equal(a.curve, b.curve) and torch.equal(a.auc, b.auc)
    assert a.auc.ge(0).all() and a.auc.le(1).all()
    # a monotone transform of the scores is the same ranking
    c = faithfulness(predict, x, ranking.exp() * 3, steps=5, mode=mode)
    assert torch.equal(a.curve, c.curve)


@pytest.mark.parametrize("mode", ["deletion", "insertion"])
@pytest.mark.parametrize("steps", [1, 3, 7])
def test_matches_the_literal_loop(mode: str, steps: int) -> None:
    torch.manual_seed(1)
    weights = torch.randn(L, dtype=torch.float64)

    def predict(x: Tensor) -> Tensor:
        return torch.sigmoid(x @ weights)

    x = torch.randn(5, L, dtype=torch.float64)
    ranking = torch.randint(0, 3, (5, L)).double()  # ties: broken by position
    mask = torch.arange(L)[None, :] < torch.tensor([8, 6, 3, 1, 8])[:, None]
    got = faithfulness(predict, x, ranking, steps=steps, mode=mode, baseline=0.5, mask=mask)
    auc, curve = faithfulness_loop(predict, x, ranking, steps=steps, mode=mode, baseline=0.5,
                                   mask=mask)
    torch.testing.assert_close(got.curve, curve)
    torch.testing.assert_close(got.auc, auc)


def test_padding_is_never_touched_and_works_on_embeddings() -> None:
    x = torch.randn(2, L, 4)  # (B, L, D): positions on dimension 1
    mask = torch.tensor([[True] * L, [True] * 3 + [False] * 5])
    seen: list[Tensor] = []

    def predict(inputs: Tensor) -> Tensor:
        seen.append(inputs.clone())
        return torch.sigmoid(inputs.sum((1, 2)))

    faithfulness(predict, x, torch.randn(2, L), steps=3, mode="insertion", mask=mask,
                 baseline=torch.zeros(4))
    for inputs in seen:
        assert torch.equal(inputs[1, 3:], x[1, 3:])  # padding kept as is
    assert torch.equal(seen[0][1, :3], torch.zeros(3, 4))  # insertion starts from the baseline


def test_token_ids_with_a_padding_baseline() -> None:
    tokens = torch.tensor([[5, 6, 7, 8]])

    def predict(t: Tensor) -> Tensor:
        return (t == 7).any(1).double() * 0.9 + 0.05

    ranking = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    out = faithfulness(predict, tokens, ranking, steps=4, baseline=0)
    assert out.curve[0].tolist() == pytest.approx([0.95, 0.05, 0.05, 0.05, 0.05])


def test_bad_arguments_are_rejected() -> None:
    x, r = _inputs(2), _true_ranking(2)
    with pytest.raises(ValueError, match="mode"):
        faithfulness(_only_token_3, x, r, steps=2, mode="removal")
    with pytest.raises(ValueError, match="steps"):
        faithfulness(_only_token_3, x, r, steps=0)
    with pytest.raises(ValueError, match="ranking"):
        faithfulness(_only_token_3, x, r[:, :3], steps=2)
    with pytest.raises(ValueError, match="inputs"):
        faithfulness(_only_token_3, torch.ones(3), r, steps=2)
    with pytest.raises(ValueError, match="mask"):
        faithfulness(_only_token_3, x, r, steps=2, mask=torch.ones(2, L))
    with pytest.raises(ValueError, match="probabilities"):
        faithfulness(lambda t: 5 * t[:, 3], x, r, steps=2)
    with pytest.raises(ValueError, match=r"\(B,\)"):
        faithfulness(lambda t: t, x, r, steps=2)
