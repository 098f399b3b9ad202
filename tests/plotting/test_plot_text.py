"""Cell texts drawn as glyph outlines land where, and as large as, matplotlib's own text would."""

from __future__ import annotations

import numpy as np
import pytest

from lightning_evalkit.plotting.base import framed_figure
from lightning_evalkit.plotting.curves import figure_to_rgb
from lightning_evalkit.plotting.text import add_texts


def _ink_box(text: str, outlines: bool) -> tuple[int, int, int, int]:
    """Pixel box (rows and columns) of the dark pixels of ``text`` drawn centred in an empty axes."""
    figure, (axes,) = framed_figure()
    figure.set_size_inches(2.0, 2.0)
    axes.set_position((0.0, 0.0, 1.0, 1.0))
    axes.set_axis_off()
    axes.set_xlim(-1, 1)
    axes.set_ylim(-1, 1)
    if outlines:
        add_texts(axes, [(0.0, 0.0)], [text], 12.0, ["black"])
    else:
        axes.text(0.0, 0.0, text, ha="center", va="center", fontsize=12.0, linespacing=1.2)
    dark = figure_to_rgb(figure).min(axis=2) < 128
    rows, columns = np.nonzero(dark)
    return rows.min(), rows.max(), columns.min(), columns.max()


@pytest.mark.parametrize("text", ["7", "12\n3.4%", "7859\n95.0%", "0"])
def test_outlined_text_matches_matplotlib_text_within_two_pixels(text: str) -> None:
    ours, theirs = _ink_box(text, outlines=True), _ink_box(text, outlines=False)
    assert np.abs(np.subtract(ours, theirs)).max() <= 2, (ours, theirs)


def test_the_drawn_texts_can_be_read_back_in_order() -> None:
    _, (axes,) = framed_figure()
    drawn = add_texts(axes, [(0, 0), (1, 0)], ["1\n50.0%", "0"], 9.0, ["black", "white"])
    assert axes.text_collections == [drawn] and drawn.texts == ["1\n50.0%", "0"]  # type: ignore[attr-defined]
    assert len(drawn.collection.get_paths()) == 2
