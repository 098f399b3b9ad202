"""Many short texts drawn as one collection of glyph outlines, for the cells of a confusion matrix.

matplotlib draws each ``Text`` line on its own (layout, font lookup, glyph rasterising): a few hundred cell
texts were most of a confusion matrix's drawing time. Here each character's outline is taken once from the
default font and cached; a text is its characters' outlines placed side by side, and all texts of a figure go
into one ``PathCollection``, filled in one pass (about ten times faster). The look is that of unhinted text.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import PathCollection

CAP_EMS = 0.73  # height of digits and capitals in ems (DejaVu Sans), to centre lines on their cell
LINE_PITCH_EMS = 1.2


@lru_cache(maxsize=512)
def _glyph(char: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Outline vertices and codes of ``char`` at 1 point, origin on the baseline, and its advance in points."""
    from matplotlib.font_manager import FontProperties, findfont, get_font
    from matplotlib.ft2font import LoadFlags
    from matplotlib.textpath import TextPath

    properties = FontProperties()
    font = get_font(findfont(properties))
    font.set_size(72.0, 72.0)
    advance = font.load_char(ord(char), flags=LoadFlags.NO_HINTING).linearHoriAdvance / 65536.0 / 72.0
    if char.isspace():  # no outline (TextPath cannot make an empty one)
        return np.zeros((0, 2)), np.zeros(0, dtype=np.uint8), advance
    outline = TextPath((0.0, 0.0), char, size=1.0, prop=properties)
    return np.asarray(outline.vertices, dtype=np.float64), np.asarray(outline.codes, dtype=np.uint8), advance


def line_outline(line: str) -> tuple[np.ndarray, np.ndarray, float]:
    """``(vertices, codes, width)`` of one line at 1 point, starting at x = 0 on the baseline.

    Example:
        >>> vertices, codes, width = line_outline("10")
        >>> round(width, 3), len(vertices) == len(codes) > 0
        (1.272, True)
    """
    vertices, codes, x = [], [], 0.0
    for char in line:
        glyph_vertices, glyph_codes, advance = _glyph(char)
        if len(glyph_vertices):
            vertices.append(glyph_vertices + np.array([x, 0.0]))
            codes.append(glyph_codes)
        x += advance
    if not vertices:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.uint8), x
    return np.concatenate(vertices), np.concatenate(codes), x


def text_width(text: str, points: float) -> float:
    """Width in inches of the longest line of ``text`` at ``points``, from the default font's advances: what
    matplotlib draws, so margins fit the text itself rather than a generous estimate.

    Example:
        >>> round(text_width("Predicted", 10.0), 3)
        0.657
    """
    return max((sum(_glyph(char)[2] for char in line) for line in text.split("\n")), default=0.0) * points / 72.0


def centred_outline(text: str, right: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Outline of a (multi-line) text at 1 point, the block's middle at y = 0 and each line centred on x = 0
    (or, with ``right``, ending at x = 0)."""
    lines = text.split("\n")
    top = ((len(lines) - 1) * LINE_PITCH_EMS + CAP_EMS) / 2
    parts = [line_outline(line) for line in lines]
    share = 1.0 if right else 0.5
    shifts = [np.array([-width * share, top - CAP_EMS - i * LINE_PITCH_EMS]) for i, (_, _, width) in enumerate(parts)]
    vertices = [v + shift for (v, _, _), shift in zip(parts, shifts, strict=True)]
    return np.concatenate(vertices), np.concatenate([codes for _, codes, _ in parts])


class TextCollection:
    """The texts one :func:`add_texts` call drew, in order (the collection itself holds only outlines)."""

    def __init__(self, collection: PathCollection, texts: Sequence[str]) -> None:
        self.collection = collection
        self.texts = list(texts)


def add_texts(
    axes: Axes,
    positions: Sequence[tuple[float, float]],
    texts: Sequence[str],
    points: float,
    colours: Sequence[Any],
    right: bool = False,
    offset_transform: Any = None,
    scales: Sequence[float] | None = None,
) -> TextCollection:
    """Draw each of ``texts`` centred on its (x, y) data position, at ``points``, in its colour, as one artist.

    With ``right`` each text ends at its position instead; ``offset_transform`` places the positions (default:
    the axes' data coordinates); ``scales`` sizes each text at that multiple of ``points`` (default: all 1).

    The returned :class:`TextCollection` is also kept as ``axes.text_collections`` (a list), so the texts
    drawn can be read back.
    """
    from matplotlib.collections import PathCollection
    from matplotlib.path import Path
    from matplotlib.transforms import Affine2D, composite_transform_factory

    figure = axes.get_figure()
    factors = [1.0] * len(texts) if scales is None else scales
    outlines = [centred_outline(text, right) for text in texts]
    paths = [Path(vertices * factor, codes) for (vertices, codes), factor in zip(outlines, factors, strict=True)]
    # points to inches to pixels at whatever dpi the figure is drawn (savefig may change it)
    scale = composite_transform_factory(Affine2D().scale(points / 72.0), figure.dpi_scale_trans)  # type: ignore[union-attr]
    collection = PathCollection(
        paths,
        offsets=np.asarray(positions, dtype=np.float64).reshape(-1, 2),
        offset_transform=axes.transData if offset_transform is None else offset_transform,
        transform=scale,
        facecolors=list(colours),
        edgecolors="none",
    )
    outside = offset_transform is not None  # texts in data coordinates stay inside the axes
    collection.set_in_layout(outside)
    axes.add_collection(collection, autolim=False)
    collection.set_clip_on(not outside)  # (add_collection clips to the axes)
    drawn = TextCollection(collection, texts)
    kept = getattr(axes, "text_collections", [])
    axes.text_collections = [*kept, drawn]  # type: ignore[attr-defined]
    return drawn
