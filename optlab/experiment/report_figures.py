"""The figures of `optlab report`, drawn with matplotlib on the Agg canvas directly (no pyplot, no global
backend). `report.py` imports this module only when a figure is to be drawn, so a report whose figures
are reused, and everything else that reads a store, imports no matplotlib.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

from .judge import Reference
from .profiles import share_within
from .report import AXES, BAND_SEEDS, CEILING, FLOOR, Run, Styles, by_label
from .report_axes import Key, plain_axis

if TYPE_CHECKING:
    from .report import Study

LEGEND_WIDTH = 1.9  # inches to the right of the panels


def legend(fig: Figure, ax: Axes, styles: Styles) -> None:
    """One legend for the figure, outside the panels on the right: the methods of `ax`'s lines, in their order."""
    fig.add_artist(Key(fig, [(label, styles[label]) for label in (str(line.get_label()) for line in ax.lines)],
                       "upper right"))


def new_figure(ncols: int, width: float, legend_width: float = LEGEND_WIDTH, nrows: int = 1,
               height: float = 4.0) -> tuple[Figure, list[Axes]]:
    """A figure of nrows x ncols panels sharing one y axis on an Agg canvas, a fixed layout with room for the
    legend; the panels row by row.

    A fixed layout, few major ticks, no minor tick labels and y tick labels on the first column only:
    drawing axes, ticks and their text is most of the report's time.
    """
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.95 / width, right=1 - legend_width / width, bottom=0.52 / height,
                        top=1 - 0.56 / height, wspace=0.12, hspace=0.45)
    return fig, list(fig.subplots(nrows, ncols, sharey=True, squeeze=False).flat)


def _power(value: float, _: int) -> str:
    return f"{value:g}"


def tidy(ax: Axes) -> None:
    """Few ticks: major ticks only, at most about six per axis."""
    for axis in (ax.xaxis, ax.yaxis):
        scale = axis.get_scale()
        if scale == "log":
            axis.set_major_locator(LogLocator(base=getattr(axis.get_transform(), "base", 10.0), numticks=6))
            axis.set_major_formatter(FuncFormatter(_power))  # plain text: mathtext parsing was slow
        else:
            axis.set_major_locator(MaxNLocator(6))
        axis.set_minor_locator(NullLocator())


def save(fig: Figure, directory: Path, name: str, formats: tuple[str, ...]) -> str:
    """Save `fig` as plots/<name>.<format> for each format; return the first path (relative) for markdown."""
    stem = f"plots/{re.sub(r'[^A-Za-z0-9_.=-]+', '_', name).strip('_')}"
    for fmt in formats:
        # zlib level 1: 0.65x level 6's time, 13% larger; strategy Z_RLE (compress_type 3): a further 0.8x, 2% larger
        extra: dict[str, Any] = {"pil_kwargs": {"compress_level": 1, "compress_type": 3}} if fmt == "png" else {}
        fig.savefig(directory / f"{stem}.{fmt}", dpi=90, **extra)
    return f"{stem}.{formats[0]}"


def held(curves: list[tuple[np.ndarray, np.ndarray]], grid: np.ndarray) -> np.ndarray:
    """Each curve held at its last value between its points, on `grid` (NaN before its first point)."""
    out = np.empty((len(curves), grid.size))
    for k, (x, y) in enumerate(curves):
        i = np.searchsorted(x, grid, side="right") - 1
        out[k] = np.where(i >= 0, y[np.maximum(i, 0)], np.nan)
    return out


def bootstrap_band(values: np.ndarray, rng: np.random.Generator, draws: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """95% bootstrap interval of the median over seeds (rows of `values`), at each grid point."""
    picks = rng.integers(0, values.shape[0], size=(draws, values.shape[0]))
    medians = np.median(values[picks], axis=1)
    return np.quantile(medians, 0.025, axis=0), np.quantile(medians, 0.975, axis=0)


def best_so_far(f: np.ndarray, f_ref: float) -> np.ndarray:
    """min_{j<=k} f_j - f_ref along a trace, clipped to [FLOOR, 1e300]; NaN and inf f count as +inf."""
    return np.clip(np.minimum.accumulate(np.where(np.isnan(f), np.inf, f)) - f_ref, FLOOR, 1e300)


def steps(ax: Axes, x: np.ndarray, y: np.ndarray, label: str, style: dict[str, Any], marks: int) -> None:
    """A post-step line with about `marks` markers: `ax.step` without its argument parsing, which cost a
    quarter of drawing a line."""
    ax.add_line(Line2D(x, y, drawstyle="steps-post", label=label, markevery=max(1, len(x) // marks), markersize=4,
                       **style))


def changes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points of a step curve where y changes, and the last: the same picture, far fewer points to draw."""
    keep = np.r_[True, y[1:] != y[:-1]]
    keep[-1] = True
    return x[keep], y[keep]


def decide_xscale(xscale: str, values: list[np.ndarray]) -> str:
    """log where positive x values span more than two decades (or when asked), else linear."""
    if xscale != "auto":
        return xscale
    positive = np.concatenate([v[v > 0] for v in values] + [np.array([])])
    return "log" if positive.size and positive.max() > 100 * positive.min() else "linear"


PANEL = (3.3, 2.2)  # inches per panel of a convergence grid


def draw_convergence(ax: Axes, runs: list[Run], study: Study, axis: str, f_ref: float, top: float,
                     styles: Styles, rng: np.random.Generator) -> list[np.ndarray]:
    """One panel: per method, best-so-far f - f_ref against `axis` (median over seeds, bootstrap band from
    BAND_SEEDS seeds on); returns the x values drawn."""
    x_of = AXES[axis][1]
    xs_all = []
    for label, rs in by_label(runs).items():
        curves = []
        for r in rs:
            trace = study.trace(r["run_id"])
            x = np.nan_to_num(np.asarray(x_of(trace, study.cost, r.get("n")), dtype=float))
            curves.append((np.maximum.accumulate(x), np.minimum(best_so_far(trace.f, f_ref), 10 * top)))
        xs_all += [x for x, _ in curves]
        style = styles[label]
        if len(curves) == 1:
            x, y = changes(*curves[0])
            steps(ax, x, y, label, style, marks=6)
            continue
        grid = np.unique(np.concatenate([x for x, _ in curves]))
        values = held(curves, grid)
        steps(ax, grid, np.nanmedian(values, axis=0), label, style, marks=6)
        if len(curves) >= BAND_SEEDS:
            lo, hi = bootstrap_band(values, rng)
            ax.fill_between(grid, lo, hi, step="post", color=style["color"], alpha=0.15, linewidth=0)
    return xs_all


def grid_figure(nrows: int, ncols: int, styles: Styles) -> Figure:
    """The figure of a convergence grid, nrows x ncols panels (rows share y, columns share x), with the
    methods' legend on top: made once and drawn again for each group of instances (`convergence_grid`),
    since making axes and their ticks costs more than drawing them."""
    width, height = PANEL[0] * ncols + 1.1, PANEL[1] * nrows + 1.0
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.85 / width, right=1 - 0.2 / width, bottom=0.55 / height, top=1 - 0.6 / height,
                        wspace=0.06, hspace=0.32)
    fig.subplots(nrows, ncols, sharex="col", sharey="row", squeeze=False)
    fig.add_artist(Key(fig, list(styles.items()), "upper center", ncols=6))
    return fig


def clear(axes: Iterable[Axes]) -> None:
    """Remove the data drawn on `axes` and let them scale to the next data: a figure drawn again keeps its
    axes, ticks and text objects, which cost more to make than to draw."""
    for ax in axes:
        for artist in [*ax.lines, *ax.collections, *ax.artists]:
            artist.remove()
        ax.xaxis.set_visible(True)
        ax.yaxis.set_visible(True)
        ax.relim()
        ax.set_autoscale_on(True)


def convergence_grid(rows: list[tuple[str, list[Run], Reference]], study: Study, styles: Styles,
                     fig: Figure | None = None) -> Figure:
    """Small multiples: one row per instance (its name, runs and reference), one column per chosen x axis.

    Rows share their y axis (one instance), columns their x axis (one quantity, log where its values span
    more than two decades over the grid), so tick labels are drawn on the outer panels only. Drawn on
    `fig` (a `grid_figure` of as many rows, cleared first) when given. Every run in `rows` has a trace.
    """
    axes_names = study.options.axes
    fig = fig or grid_figure(len(rows), len(axes_names), styles)
    grid = np.array(fig.axes).reshape(len(rows), len(axes_names))
    clear(grid.flat)
    rng = np.random.default_rng(0)
    xs: list[list[np.ndarray]] = [[] for _ in axes_names]
    for i, (name, runs, ref) in enumerate(rows):
        assert ref.f is not None
        top = CEILING * max(best_so_far(study.trace(r["run_id"]).f[:1], ref.f)[0] for r in runs)
        for j, axis in enumerate(axes_names):
            xs[j] += draw_convergence(grid[i, j], runs, study, axis, ref.f, top, styles, rng)
        seeds = max(len(rs) for rs in by_label(runs).values())
        grid[i, 0].set(yscale="log", ylabel="f - f*" if ref.known else "f - best found")
        grid[i, 0].set_title(name + (f": median over {seeds} seeds" + (", 95% bootstrap band"
                                                                      if seeds >= BAND_SEEDS else "")
                                     if seeds > 1 else ""), loc="left", fontsize="medium",
                             y=1.0)  # a fixed place: nothing sits above a panel, and placing it costs a tick bbox
        for ax in grid[i]:
            ax.autoscale_view()
        grid[i, 0].set_ylim(top=top)
    for j, axis in enumerate(axes_names):
        grid[-1, j].set(xscale=decide_xscale(study.options.xscale, xs[j]), xlabel=AXES[axis][0])
    for ax in grid.flat:
        tidy(ax)
    for (i, j), ax in np.ndenumerate(grid):  # tick labels on the outer panels only, as the shared axes hide them
        plain_axis(ax, "x", labels=i == len(rows) - 1)
        plain_axis(ax, "y", labels=j == 0)
    return fig


def convergence_figure(name: str, runs: list[Run], study: Study, f_ref: float, known: bool,
                       styles: Styles) -> Figure:
    """One instance's row of the convergence grid, as a figure of its own."""
    traced = [r for r in runs if r["run_id"] in study.traced]
    return convergence_grid([(name, traced, Reference(f_ref, known))], study,
                            {k: v for k, v in styles.items() if k in {r["label"] for r in traced}})


GRID_ALPHA = 0.3  # gridlines of the profiles


def draw_profile(ax: Axes, curves: dict[str, np.ndarray], styles: Styles, xscale: str, ylabels: bool) -> None:
    """Step curves share_within(values, x) per method, x over every finite value: xscale log2 (ratios, from
    1), or log or linear (budgets; `decide_xscale`: log where the values span more than two decades); y tick
    labels if `ylabels` (the first column: panels share their y axis)."""
    values = np.concatenate([v[np.isfinite(v)] for v in curves.values()] + [np.array([])])
    if xscale != "log2":
        xscale = decide_xscale(xscale, [values])
    floor = {"log2": [1.0], "log": [], "linear": [0.0]}[xscale]
    finite = np.concatenate([values[values > 0] if xscale == "log" else values, floor])
    if not finite.size:
        finite = np.array([1.0])
    right = max(finite.max() * (1.1 if xscale == "linear" else 2.0), 2.0 if xscale == "log2" else 1.0)
    xs = np.unique(np.concatenate([finite, [right]]))  # room to show the plateau
    for label, v in curves.items():
        steps(ax, xs, share_within(v, xs), label, styles[label], marks=8)
    if xscale != "linear":
        ax.set_xscale("log", base=2 if xscale == "log2" else 10)
    ax.set(ylim=(0, 1.02), xlim=(xs[0], right))
    ax.grid(alpha=GRID_ALPHA)
    tidy(ax)
    plain_axis(ax, "x", labels=True, grid_alpha=GRID_ALPHA)
    plain_axis(ax, "y", labels=ylabels, grid_alpha=GRID_ALPHA)
