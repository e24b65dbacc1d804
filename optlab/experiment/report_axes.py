"""The axes and legends of the report's figures drawn from fixed positions, without matplotlib's Tick objects
and Legend boxes.

A matplotlib Axis makes a Tick per location (three Line2D and two Text each), measures every tick label
and its siblings' to place the axis label, and draws each part through its own artist: most of a report
figure's drawing time. `plain_axis` draws the same pixels (tested against matplotlib's own axes) from one
Line2D of tick marks, one Line2D of gridlines, a Text per tick label and the axis' own label placed as
matplotlib places it. `Key` lays a legend out once, from its labels' sizes.
"""
from __future__ import annotations

from typing import Any, Mapping, cast

import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.markers import TICKDOWN, TICKLEFT
from matplotlib.text import Text
from matplotlib.ticker import NullLocator, ScalarFormatter
from matplotlib.transforms import Bbox, IdentityTransform, ScaledTranslation


def _rc(*names: str) -> Any:
    """The first of these rcParams that is set (matplotlib's `_val_or_rc` order: grid.major.color, grid.color)."""
    rc = cast(Mapping[str, Any], matplotlib.rcParams)  # keys built from the axis name, beyond the stubs' literals
    return next((rc[n] for n in names[:-1] if rc.get(n) is not None), rc[names[-1]])


def drawn_ticks(axis: Axis) -> tuple[np.ndarray, list[str]]:
    """The major tick locations matplotlib would draw (within the view interval, in the scale's coordinates,
    as `Axis._update_ticks` keeps them) and their labels, formatted from every location the locator gives."""
    locs = np.asarray(axis.get_major_locator()(), dtype=float)
    labels = axis.get_major_formatter().format_ticks(list(locs))
    lo, hi = sorted(axis.get_view_interval())
    scale = axis.get_transform()
    a, b = sorted(np.asarray(scale.transform(np.array([lo, hi]))).ravel())
    t = np.asarray(scale.transform(locs)).ravel()
    keep = (t >= a - (b - a) * 1e-10) & (t <= b + (b - a) * 1e-10)
    return locs[keep], [s for s, k in zip(labels, keep) if k]


def plain_axis(ax: Axes, which: str, labels: bool, grid_alpha: float | None = None) -> None:
    """Draw `ax`'s x or y axis as a `PlainAxis` (tick labels only if `labels`; gridlines at `grid_alpha`, as
    `ax.grid(alpha=grid_alpha)` draws them) and hide matplotlib's. Call once the axis' limits, scale, locator and
    formatter are final; its label may still be set. An axis with minor ticks or a formatter's offset text (1e6
    at its end) keeps matplotlib's drawing."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    if not isinstance(axis.get_minor_locator(), NullLocator):
        return
    locs, texts = drawn_ticks(axis)
    formatter = axis.get_major_formatter()
    if labels and isinstance(formatter, ScalarFormatter) and formatter.get_offset():
        return
    ax.add_artist(PlainAxis(ax, which, locs, texts if labels else [], grid_alpha))
    axis.set_visible(False)


class PlainAxis(Artist):
    """One axis of a panel: gridlines, tick marks, tick labels and the axis label, drawn at the axis' zorder in
    the order a matplotlib Axis draws them. Kept out of `ax.lines` and `ax.texts`, which hold the data."""

    def __init__(self, ax: Axes, which: str, locs: np.ndarray, texts: list[str], grid_alpha: float | None) -> None:
        super().__init__()
        axis = ax.xaxis if which == "x" else ax.yaxis
        fig = ax.get_figure(root=False)
        assert fig is not None
        self.ax, self.axis, self.which = ax, axis, which
        self.set_zorder(axis.get_zorder())
        self.set_figure(fig)
        name = f"{which}tick"
        size, width, color = _rc(f"{name}.major.size"), _rc(f"{name}.major.width"), _rc(f"{name}.color")
        pad = _rc(f"{name}.major.pad") + size  # ticks point out: labels sit past the tick marks
        zeros = np.zeros_like(locs)
        if which == "x":
            xy, transform, marker = (locs, zeros), ax.get_xaxis_transform("tick1"), TICKDOWN
            grid_xy = (np.repeat(locs, 3), np.tile([0.0, 1.0, np.nan], locs.size))
            text_transform = ax.get_xaxis_transform("tick1") + ScaledTranslation(0, -pad / 72, fig.dpi_scale_trans)
            va, ha = "top", _rc("xtick.alignment")
        else:
            xy, transform, marker = (zeros, locs), ax.get_yaxis_transform("tick1"), TICKLEFT
            grid_xy = (np.tile([0.0, 1.0, np.nan], locs.size), np.repeat(locs, 3))
            text_transform = ax.get_yaxis_transform("tick1") + ScaledTranslation(-pad / 72, 0, fig.dpi_scale_trans)
            va, ha = _rc("ytick.alignment"), "right"
        self.grid = None if grid_alpha is None else Line2D(
            *grid_xy, transform=ax.get_xaxis_transform("grid") if which == "x" else ax.get_yaxis_transform("grid"),
            color=_rc("grid.major.color", "grid.color"), alpha=grid_alpha, marker="",
            linestyle=_rc("grid.major.linestyle", "grid.linestyle"),
            linewidth=_rc("grid.major.linewidth", "grid.linewidth"))
        self.marks = Line2D(*xy, transform=transform, marker=cast(Any, marker), linestyle="none", color=color,
                            markeredgecolor=color, markersize=size, markeredgewidth=width)
        labelcolor = _rc(f"{name}.labelcolor")
        labelcolor = color if labelcolor == "inherit" else labelcolor
        self.labels = [Text(loc if which == "x" else 0, 0 if which == "x" else loc, text,
                            fontsize=_rc(f"{name}.labelsize"), color=labelcolor, verticalalignment=cast(Any, va),
                            horizontalalignment=ha, transform=text_transform) for loc, text in zip(locs, texts)]
        for artist in [self.marks, *self.labels] + ([self.grid] if self.grid else []):
            artist.set_figure(fig)

    def draw(self, renderer: Any) -> None:
        if self.grid is not None:
            self.grid.draw(renderer)
        self.marks.draw(renderer)
        for text in self.labels:
            text.draw(renderer)
        label = self.axis.label
        if label.get_text():
            self.place_label(renderer)
            label.draw(renderer)

    def place_label(self, renderer: Any) -> None:
        """The axis label `labelpad` points past the tick labels and the spine (`XAxis._update_label_position`)."""
        label, dpi = self.axis.label, cast(Any, self.ax.get_figure(root=True)).dpi
        side = "bottom" if self.which == "x" else "left"
        spine: Any = self.ax.spines.get(side, self.ax)
        bbox = Bbox.union([*(t.get_window_extent(renderer) for t in self.labels), spine.get_window_extent()])
        x, y = label.get_position()
        pad = self.axis.labelpad * dpi / 72
        label.set_position((x, bbox.y0 - pad) if self.which == "x" else (bbox.x0 - pad, y))


class Key(Artist):
    """A figure's legend, `loc` 'upper center' or 'upper right', laid out as matplotlib's (column by column, its
    rcParams' spacings, fontsize 'small', no frame) from fixed sizes: one Line2D (line and a marker in its middle)
    and one Text per entry, the labels measured once. matplotlib's Legend packs offset boxes and measures every
    label at each draw: a fifth of a report figure's drawing."""

    def __init__(self, fig: Figure, entries: list[tuple[str, dict[str, Any]]], loc: str, ncols: int = 1) -> None:
        super().__init__()
        self.set_figure(fig)
        self.set_zorder(5)  # a legend's
        self.loc, self.ncols = loc, max(1, min(ncols, len(entries)))
        self.fontsize = FontProperties(size="small").get_size_in_points()
        self.handles = [Line2D([0, 0, 0], [0, 0, 0], markevery=[1], markersize=4, transform=IdentityTransform(),
                               **style) for _, style in entries]
        self.texts = [Text(0, 0, label, fontsize=self.fontsize, verticalalignment="center",
                           horizontalalignment="left", transform=IdentityTransform()) for label, _ in entries]
        for artist in (*self.handles, *self.texts):
            artist.set_figure(fig)
        self._sizes: tuple[float, list[Bbox]] | None = None  # (dpi, the labels' extents) once measured

    def draw(self, renderer: Any) -> None:
        if not self.texts:
            return
        dpi = renderer.points_to_pixels(72.0)
        if self._sizes is None or self._sizes[0] != dpi:
            self._sizes = dpi, [t.get_window_extent(renderer) for t in self.texts]
        em = renderer.points_to_pixels(self.fontsize)
        rc = cast(Mapping[str, Any], matplotlib.rcParams)
        handle, gap = rc["legend.handlelength"] * em, rc["legend.handletextpad"] * em
        height = max(max(b.height for b in self._sizes[1]), rc["legend.handleheight"] * em)
        step = height + rc["legend.labelspacing"] * em
        rows = -(-len(self.texts) // self.ncols)
        columns = [range(c * rows, min((c + 1) * rows, len(self.texts))) for c in range(self.ncols)]
        widths = [handle + gap + max(self._sizes[1][i].width for i in col) for col in columns if col]
        total = sum(widths) + (len(widths) - 1) * rc["legend.columnspacing"] * em
        pad = (rc["legend.borderaxespad"] + rc["legend.borderpad"]) * em
        fig_box = cast(Any, self.get_figure(root=True)).bbox
        x = (fig_box.width - total) / 2 if self.loc == "upper center" else fig_box.width - pad - total
        top = fig_box.height - pad
        for col, width in zip(columns, widths):
            for r, i in enumerate(col):
                y = top - r * step - height / 2
                self.handles[i].set_data([x, x + handle / 2, x + handle], [y, y, y])
                self.texts[i].set_position((x + handle + gap, y))
                self.handles[i].draw(renderer)
                self.texts[i].draw(renderer)
            x += width + rc["legend.columnspacing"] * em
