"""Hooks of the MAML sinusoid study: its problem, the evaluation of each trained network, its report section.

The code is the study's own (`optlab_studies.maml_sinusoid`); this module only registers it, importing it when a
hook is called: `optlab report` imports this module for its section alone, which on another study's store
returns None without the study's code (autodiff, the optimizers and pydantic: a tenth of the MGH report).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from optlab import hookimpl


def report_section(store: Any, outdir: Path) -> str | None:
    """The study's section of `optlab report`: None for a store without an evaluated maml_sinusoid run (the runs
    the section shows), else drawn by the study's report module (matplotlib is imported only then)."""
    if not any(r["problem"] == "maml_sinusoid" and r.get("metrics") for r in store.runs()):
        return None
    from optlab_studies.maml_sinusoid.report import section

    return section(store, outdir)


@hookimpl
def optlab_problems() -> dict[str, Callable[..., Any]]:
    from optlab_studies.maml_sinusoid import tasks

    return {"maml_sinusoid": tasks.maml_sinusoid}


@hookimpl
def optlab_evaluations() -> dict[str, Callable[..., Any]]:
    from optlab_studies.maml_sinusoid import evaluation

    return {"maml_sinusoid": evaluation.evaluate}


@hookimpl
def optlab_reports() -> dict[str, Callable[..., Any]]:
    return {"maml_sinusoid": report_section}
