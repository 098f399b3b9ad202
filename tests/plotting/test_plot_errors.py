"""The TIDE error breakdown chart: one bar per error in tidecv's order, the special errors below, n/a for NaN."""

from __future__ import annotations

import math

import numpy as np

from lightning_evalkit import plotting

VALUES = {
    "map": 0.412,
    "classification": 0.031,
    "localization": 0.062,
    "both": 0.008,
    "duplicate": 0.002,
    "background": 0.041,
    "missed": 0.055,
    "false_positive": 0.18,
    "false_negative": 0.12,
}


def test_bars_labels_and_title() -> None:
    figure = plotting.plot_error_breakdown(VALUES, pos_threshold=0.7)
    (axes,) = figure.axes
    names = [label.get_text() for label in axes.get_yticklabels()]
    assert names == ["Cls", "Loc", "Both", "Dupe", "Bkg", "Miss", "FP", "FN"]
    lengths = [patch.get_width() for patch in axes.patches]
    keys = list(VALUES)[1:]
    np.testing.assert_allclose(lengths, [VALUES[key] for key in keys])
    assert [text.get_text() for text in axes.texts] == [f"{VALUES[key]:.3f}" for key in keys]
    assert axes.get_xlim()[1] > max(lengths)  # room for the value after the longest bar
    assert axes.get_title().endswith("mAP at IoU 0.7: 0.412")


def test_undefined_values_are_n_a_and_the_chart_still_draws() -> None:
    figure = plotting.plot_error_breakdown({**VALUES, "map": math.nan, "missed": math.nan})
    (axes,) = figure.axes
    assert axes.texts[5].get_text() == "n/a" and axes.patches[5].get_width() == 0
    assert axes.get_title().endswith("n/a")
    height, width, _ = plotting.figure_to_rgb(figure).shape
    assert height < 2.2 * 215 and width < 650  # TensorBoard's card shrinks it by half at most
