"""A figure drawn on the Agg canvas directly, so a study's report never changes matplotlib's global backend.

matplotlib is imported when the first figure is made: a report whose store holds no run of a study
(its section returns None) imports none of it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def figure(width: float, height: float) -> Figure:
    """A width x height inch figure with its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig
