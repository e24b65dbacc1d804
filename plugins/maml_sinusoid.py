"""Hooks of the MAML sinusoid study: its problem, the evaluation of each trained network, its report section.

The code is the study's own (`optlab_studies.maml_sinusoid`); this module only registers it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from optlab import hookimpl
from optlab_studies.maml_sinusoid import evaluation, tasks


def report_section(store: Any, outdir: Path) -> str | None:
    """The study's section of `optlab report` (matplotlib is imported only when a report is written)."""
    from optlab_studies.maml_sinusoid.report import section

    return section(store, outdir)


@hookimpl
def optlab_problems() -> dict[str, Callable[..., Any]]:
    return {"maml_sinusoid": tasks.maml_sinusoid}


@hookimpl
def optlab_evaluations() -> dict[str, Callable[..., Any]]:
    return {"maml_sinusoid": evaluation.evaluate}


@hookimpl
def optlab_reports() -> dict[str, Callable[..., Any]]:
    return {"maml_sinusoid": report_section}
