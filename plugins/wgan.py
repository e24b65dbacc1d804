"""Hooks of the WGAN-GP toy study: its problems, the evaluation of each trained game, its report section.

The code is the study's own (`optlab_studies.wgan_8gaussians`); this module only registers it, importing it when
a hook is called: `optlab report` imports this module for its section alone, which on another study's store
returns None without the study's code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from optlab import hookimpl


def report_section(store: Any, outdir: Path) -> str | None:
    """The study's section of `optlab report`: None for a store without an evaluated wgan_game run (the runs the
    section shows), else drawn by the study's report module (matplotlib is imported only then)."""
    if not any(r["problem"] == "wgan_game" and r.get("metrics") for r in store.runs()):
        return None
    from optlab_studies.wgan_8gaussians.report import section

    return section(store, outdir)


@hookimpl
def optlab_problems() -> dict[str, Callable[..., Any]]:
    from optlab_studies.wgan_8gaussians import game

    return {"wgan_game": game.wgan_game, "wgan_toy": game.wgan_toy}


@hookimpl
def optlab_evaluations() -> dict[str, Callable[..., Any]]:
    from optlab_studies.wgan_8gaussians import evaluation

    return {"wgan_game": evaluation.evaluate}


@hookimpl
def optlab_reports() -> dict[str, Callable[..., Any]]:
    return {"wgan_8gaussians": report_section}
