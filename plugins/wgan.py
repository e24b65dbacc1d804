"""Hooks of the WGAN-GP toy study: its problems, the evaluation of each trained game, its report section.

The code is the study's own (`optlab_studies.wgan_8gaussians`); this module only registers it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from optlab import hookimpl
from optlab_studies.wgan_8gaussians import evaluation, game


def report_section(store: Any, outdir: Path) -> str | None:
    """The study's section of `optlab report` (matplotlib is imported only when a report is written)."""
    from optlab_studies.wgan_8gaussians.report import section

    return section(store, outdir)


@hookimpl
def optlab_problems() -> dict[str, Callable[..., Any]]:
    return {"wgan_game": game.wgan_game, "wgan_toy": game.wgan_toy}


@hookimpl
def optlab_evaluations() -> dict[str, Callable[..., Any]]:
    return {"wgan_game": evaluation.evaluate}


@hookimpl
def optlab_reports() -> dict[str, Callable[..., Any]]:
    return {"wgan_8gaussians": report_section}
