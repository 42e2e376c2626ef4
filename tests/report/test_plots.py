"""Learning curves: grouping by quantity, one line per model."""

from __future__ import annotations

import pytest

from attnlab.report.plots import group_series, plot_learning_curves


def test_series_are_grouped_by_quantity() -> None:
    groups = group_series({
        "cnn/train_loss": [(0, 2.0), (1, 1.0)],
        "st_cnn/train_loss": [(0, 2.5)],
        "cnn/val_error": [(1, 0.1)],
    })
    assert list(groups) == ["train_loss", "val_error"]
    assert list(groups["train_loss"]) == ["cnn", "st_cnn"]


def test_plot_has_one_panel_per_quantity_and_one_line_per_model() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    fig = plot_learning_curves({
        "cnn/train_loss": [(0, 2.0), (1, 1.0)],
        "st_cnn/train_loss": [(0, 2.5), (1, float("nan")), (2, 0.5)],
        "val_accuracy": [(1, 0.9)],
        "empty": [(0, float("nan"))],
    }, title="t")
    panels = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in panels] == ["train_loss", "val_accuracy", "empty"]
    lines = panels[0].get_lines()
    assert [line.get_label() for line in lines] == ["cnn", "st_cnn"]
    assert list(lines[1].get_xdata()) == [0.0, 2.0]  # the NaN point is skipped
    assert len(panels[2].get_lines()) == 0
    plt.close(fig)
    with pytest.raises(ValueError, match="no point"):
        plot_learning_curves({"a": []})
