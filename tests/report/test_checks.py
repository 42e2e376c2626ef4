"""Targets: pass/fail on each side of the tolerance, missing metrics, scales."""

from __future__ import annotations

import pytest

from attnlab.report.checks import Target, check_targets, format_value, summarize, target_from_dict


@pytest.mark.parametrize(
    ("direction", "measured", "passes"),
    [
        ("lower", 1.2, True),  # error 0.8 + 0.4
        ("lower", 1.2000001, False),
        ("lower", 0.1, True),
        ("higher", 0.4, True),  # accuracy 0.8 - 0.4
        ("higher", 0.3999, False),
        ("higher", 5.0, True),
        ("match", 1.2, True),
        ("match", 0.4, True),
        ("match", 1.21, False),
        ("match", 0.39, False),
        ("lower", float("nan"), False),
        ("higher", float("inf"), False),
        ("lower", None, False),
    ],
)
def test_target_directions(direction: str, measured: float | None, passes: bool) -> None:
    target = Target("m", paper=0.8, tolerance=0.4, direction=direction)  # type: ignore[arg-type]
    assert target.passes(measured) is passes


def test_check_targets_statuses() -> None:
    targets = [
        Target("acc", paper=0.9, tolerance=0.0, direction="higher"),
        Target("err", paper=1.0, tolerance=0.1, direction="lower", scales=("smoke", "quick")),
        Target("absent", paper=1.0, tolerance=0.1, direction="lower"),
    ]
    results = check_targets(targets, {"acc": 0.95, "err": 2.0}, scale="quick")
    assert [r.status for r in results] == ["pass", "fail", "fail"]
    assert results[2].measured is None
    assert summarize(results) == {"pass": 1, "fail": 2, "not checked": 0}
    smoke = check_targets(targets, {"acc": 0.1, "err": 0.5}, scale="smoke")
    assert [r.status for r in smoke] == ["not checked", "pass", "not checked"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": ""}, "metric"),
        ({"direction": "better"}, "direction"),
        ({"tolerance": -0.1}, "tolerance"),
        ({"tolerance": float("nan")}, "tolerance"),
        ({"paper": float("inf")}, "paper value"),
        ({"scales": ("tiny",)}, "scales"),
        ({"scales": ()}, "scales"),
    ],
)
def test_bad_targets_are_refused(kwargs: dict[str, object], match: str) -> None:
    base: dict[str, object] = {"metric": "m", "paper": 1.0, "tolerance": 0.1, "direction": "lower"}
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Target(**base)  # type: ignore[arg-type]


def test_round_trip_and_criterion() -> None:
    target = Target("m", paper=0.5, tolerance=0.25, direction="match", source="Table 1",
                    scales=("full",))
    assert target_from_dict(target.to_dict()) == target
    assert target.criterion == "0.5 ± 0.25"
    assert Target("m", paper=0.8, tolerance=0.4, direction="lower").criterion == "<= 1.2"


def test_format_value() -> None:
    assert format_value(28_088_024.0) == "28,088,024"
    assert format_value(0.5) == "0.5"
    assert format_value(1 / 3) == "0.33333"
    assert format_value(float("nan")) == "nan"
