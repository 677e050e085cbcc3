"""What every figure shares: atomic saving, text helpers, attribution-map normalisation and method styles.

Figures are built as :class:`matplotlib.figure.Figure` objects drawn by the Agg canvas, so no GUI backend is
ever touched and no pyplot state is kept; every figure goes through :func:`save_figure`, which writes PNG
(and optionally PDF) atomically and closes the figure. Only numpy and matplotlib are imported here.

Attribution maps (:func:`is_signed`, :func:`normalise_map`; used by the explanation grid and the views).
Channels are summed to one map. A *method* is called signed when, over all its maps in the figure, the
negative attribution mass is more than 1 % of the total absolute mass; the decision is per method (per
column), so a column never mixes colour scales. Each map is then divided by its own robust scale, the 99.5th
percentile of ``|a|`` (falling back to ``max |a|``), and clipped: signed maps to [-1, 1] drawn with a
symmetric diverging colormap (blue < 0 < red, white at 0), non-negative maps to [0, 1] (their few negative
values clipped to 0) drawn with a jet-like sequential colormap (turbo). Signed columns carry "(±)".
Magnitudes are therefore comparable within an image, not across images or methods.

Method styles (:func:`method_styles`): every display name a registry method can take has a fixed
(colour, line style), given by its position in :func:`xaibench.figures.names.all_method_labels` (tab20
without its greys, dark shades first, then Dark2: every registry method a colour of its own; then the
colours again dashed, then dotted), so a method looks the same in every
figure and no two registry methods look alike; the controls are grey dashed (random) and black dash-dotted
(sobel).
"""

from __future__ import annotations

import io
import os
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

from xaibench.figures.names import CONTROL_METHODS, all_method_labels, method_label, registry_method
from xaibench.io import atomic_path

PathLike = str | os.PathLike[str]
Colour = tuple[float, ...] | str
LineStyle = str | tuple[float, tuple[float, ...]]

SIGNED_MASS_FRACTION = 0.01  # a method is "signed" above this share of negative attribution mass
MAP_PERCENTILE = 99.5  # robust per-image scale of an attribution map
SEQUENTIAL_CMAP = "turbo"
DIVERGING_CMAP = "bwr"

#: Colour of labels of misclassified samples, in every figure.
WRONG_COLOUR = "#c00000"
#: Font sizes (points) of panel labels and of small print in the figures of the views.
LABEL, SMALL = 7.5, 6.5

#: tab20 without its greys (14, 15: kept for the controls), dark shades first, then the light ones; then
#: Dark2 without its grey (7): 25 distinct colours, one per registry method before any line style repeats.
PALETTE_INDICES = (0, 2, 4, 6, 8, 10, 12, 16, 18, 1, 3, 5, 7, 9, 11, 13, 17, 19)
EXTRA_PALETTE_INDICES = (0, 1, 2, 3, 4, 5, 6)
#: Line styles cycled once the palette is used up: solid, dashed, dotted.
LINESTYLES: tuple[LineStyle, ...] = ("-", (0, (5.0, 2.0)), (0, (1.2, 1.6)))
CONTROL_STYLES: dict[str, tuple[Colour, LineStyle]] = {"random": ("0.55", "--"), "sobel": ("0.0", "-.")}


#: The largest PNG, in pixels (width, height), that Snakemake's report viewer shows whole on a 1600 x 1200
#: screen. The viewer shows an image at its own size, shrunk to the width beside the menu (1,020-1,250 px),
#: and centres it vertically in a box that scrolls only down, so the top of an image taller than the window
#: (1,113 px in Chromium's 1600 x 1200 window, less 24 px of padding) cannot be reached. Larger figures get a
#: lower resolution in the PNG (the report's copy); the PDF keeps the full resolution (tools/report_view.py
#: measures where the viewer puts every figure).
SCREEN_PX = (1400, 1050)
#: Colours of a PNG (a palette image).
PNG_COLOURS = 256
PAD_INCHES = 0.05


def screen_layout(
    fig: Figure, dpi: float, screen_px: tuple[int, int] = SCREEN_PX, box: bool = True
) -> tuple[float, Bbox | None]:
    """The PNG's resolution and its crop: ``dpi``, or less where the figure's tight bounding box would exceed
    ``screen_px`` pixels at ``dpi``; and that box at the resolution, padded by :data:`PAD_INCHES` (inches,
    what ``savefig(bbox_inches="tight", pad_inches=PAD_INCHES)`` would crop to at that resolution).

    Text and layout scale a little differently from the rest with the resolution, so the box is measured
    again at the lowered resolution (up to 4 times). A figure whose own size at ``dpi`` is under 90 % of
    ``screen_px`` keeps ``dpi`` (a tight box outgrows its figure only by artists drawn outside it, such as a
    legend beside the axes), and with ``box=False`` is not measured at all (the box is then None). Each
    measurement is one layout pass (a draw without rendering); passing the box to ``savefig`` saves it the
    layout pass of its own that ``bbox_inches="tight"`` costs.
    """
    width, height = fig.get_size_inches() * dpi
    fits = width <= 0.9 * screen_px[0] and height <= 0.9 * screen_px[1]
    resolution = float(dpi)
    if fits and not box:
        return resolution, None
    for _ in range(4):
        tight = _tight_box(fig, resolution)
        if fits:
            return resolution, tight
        fitted = min(float(dpi), (screen_px[0] - 2) / tight.width, (screen_px[1] - 2) / tight.height)
        if fitted >= resolution:
            return resolution, tight
        resolution = 0.995 * fitted
    return resolution, _tight_box(fig, resolution)


def _tight_box(fig: Figure, resolution: float) -> Bbox:
    """The figure's tight bounding box at ``resolution`` (its layout done at that resolution by the Agg
    renderer, as ``savefig`` does for a PNG), padded by :data:`PAD_INCHES`; inches."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    original = fig.dpi
    try:
        fig.set_dpi(resolution)
        fig.draw_without_rendering()  # runs the layout engine, as savefig's own tight-box pass does
        return fig.get_tightbbox(canvas.get_renderer()).padded(PAD_INCHES)
    finally:
        fig.set_dpi(original)


def save_figure(fig: Figure, png_path: PathLike, pdf_path: PathLike | None = None, dpi: int = 150) -> None:
    """Write ``fig`` as PNG (and PDF when ``pdf_path`` is given) atomically, then close it.

    The PNG is the screen copy (the report's): at ``dpi``, or lower so that it fits :data:`SCREEN_PX`
    (:func:`screen_layout`), in :data:`PNG_COLOURS` colours (median cut, no dithering: a third of the bytes of
    full colour; matplotlib's colormaps have 256 entries themselves; Pillow's fast octree would leave a grey
    image 16 levels). The PDF is the print copy: vector, its raster parts at ``dpi`` in full colour.
    Metadata that changes between runs (creation date, software version) is left out so that reruns give
    identical files for identical inputs.

    A figure without a layout engine is laid out once for its PNG: the box :func:`screen_layout` measured
    is the crop (``savefig`` with ``bbox_inches="tight"`` would lay it out again to find the same box).
    A layout engine moves artists on every draw, so such a figure is cropped by ``savefig`` itself.
    """
    from PIL import Image

    try:
        buffer = io.BytesIO()
        engine = fig.get_layout_engine()
        resolution, box = screen_layout(fig, dpi, box=engine is None)
        fig.savefig(  # an intermediate PNG, read back at once: stored, not compressed
            buffer,
            format="png",
            dpi=resolution,
            bbox_inches=box if engine is None else "tight",
            pad_inches=PAD_INCHES,
            pil_kwargs={"compress_level": 0},
        )
        with Image.open(buffer) as image:
            screen = image.convert("RGB").quantize(
                PNG_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
            )
        with atomic_path(png_path) as tmp:
            screen.save(tmp, format="PNG")
        if pdf_path is not None:
            metadata = {"CreationDate": None, "Creator": None, "Producer": None}
            with atomic_path(pdf_path) as tmp:
                fig.savefig(
                    tmp, format="pdf", dpi=dpi, bbox_inches="tight", pad_inches=PAD_INCHES, metadata=metadata
                )
    finally:
        _close(fig)


def pair_figure_paths(
    folder: PathLike, dataset: str, model: str, name: str, pdf: bool = True
) -> tuple[str, str | None]:
    """``folder/dataset/model/name.png`` and ``.pdf`` (``name`` in lower case; None without ``pdf``), their
    folder made: the layout of a rule that draws one figure per (dataset, model, ``name``) into a folder
    output."""
    stem = os.path.join(folder, dataset, model, name.lower())
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    return f"{stem}.png", f"{stem}.pdf" if pdf else None


def _close(fig: Figure) -> None:
    """Release a figure made through pyplot; our own :class:`Figure` objects need no more than dropping."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)


def wrap_text(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters (long words too), for panel labels."""
    return "\n".join(textwrap.wrap(text, width=width, break_long_words=True, break_on_hyphens=False)) or text


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height))


def line_axes(ax: Axes, xlabel: str, ylabel: str) -> None:
    """The look of every line plot: axis labels, integer x ticks, a light grid, no top/right spines."""
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def format_value(value: float, nonfinite: bool = False) -> str:
    """Compact number: 3 significant digits, short scientific notation at the extremes, ``*`` if flagged."""
    if not np.isfinite(value):
        text = "nan" if np.isnan(value) else ("inf" if value > 0 else "−inf")
    elif value == 0:
        text = "0"
    elif 0.01 <= abs(value) < 1000:
        text = f"{value:.3g}"
    else:
        mantissa, exponent = f"{value:.1e}".split("e")
        text = f"{mantissa}e{int(exponent)}"
    text = text.replace("-", "−")
    return text + ("*" if nonfinite else "")


# --------------------------------------------------------------------------------------------------
# attribution maps


def is_signed(maps: Sequence[np.ndarray]) -> bool:
    """True when the negative attribution mass exceeds ``SIGNED_MASS_FRACTION`` of the absolute mass."""
    negative = total = 0.0
    for m in maps:
        m = np.nan_to_num(np.asarray(m, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        negative += float(-m[m < 0].sum())
        total += float(np.abs(m).sum())
    return total > 0 and negative > SIGNED_MASS_FRACTION * total


def normalise_map(attribution: np.ndarray, signed: bool) -> np.ndarray:
    """Scale one 2-D map by its 99.5th percentile of ``|a|``; clip to [-1, 1] (signed) or [0, 1]."""
    a = np.nan_to_num(np.asarray(attribution, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    magnitude = np.abs(a) if signed else np.clip(a, 0.0, None)
    scale = float(np.percentile(magnitude, MAP_PERCENTILE)) if magnitude.size else 0.0
    if scale <= 0:
        scale = float(magnitude.max()) if magnitude.size else 0.0
    if scale <= 0:
        return np.zeros_like(a)
    return np.clip(a / scale, -1.0 if signed else 0.0, 1.0)


# --------------------------------------------------------------------------------------------------
# method styles


def _palette() -> list[Colour]:
    tab20, dark2 = matplotlib.colormaps["tab20"], matplotlib.colormaps["Dark2"]
    return [tab20(i) for i in PALETTE_INDICES] + [dark2(i) for i in EXTRA_PALETTE_INDICES]


def _slot_style(slot: int) -> tuple[Colour, LineStyle]:
    palette = _palette()
    return palette[slot % len(palette)], LINESTYLES[(slot // len(palette)) % len(LINESTYLES)]


def method_styles(
    entries: Iterable[str], specs: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, tuple[Colour, LineStyle]]:
    """Entry -> (colour, line style), fixed per display name (module docstring); an entry whose name is
    taken already in this figure, or that has no display name, gets the next style after all the fixed
    ones, so the entries of one figure never look alike (up to 54 of them)."""
    specs = specs or {}
    controls = {method_label(c) for c in CONTROL_METHODS}
    known = [label for label in all_method_labels() if label not in controls]
    slots = {label: k for k, label in enumerate(known)}
    styles: dict[str, tuple[Colour, LineStyle]] = {}
    taken: set[object] = set()
    spare = len(known)
    for entry in dict.fromkeys(entries):
        method = registry_method(entry, specs)
        key: object = method if method in CONTROL_METHODS else method_label(entry, **specs.get(entry, {}))
        if key in taken or not (key in CONTROL_STYLES or key in slots):
            styles[entry] = _slot_style(spare)
            spare += 1
        else:
            styles[entry] = CONTROL_STYLES[key] if key in CONTROL_STYLES else _slot_style(slots[key])
        taken.add(key)
    return styles
