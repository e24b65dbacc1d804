"""`optlab report DIR`: report.md with summary tables, convergence plots and performance and data profiles.

Plots go to DIR/plots/ as PNG, drawn on matplotlib's Agg canvas directly (no pyplot, no global backend).
"""
from __future__ import annotations

import json
import math
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..registry import registry
from .profiles import Instance, calls, cost_table, instance, ratios, reference_f, share_within, units_to_solve
from .store import Store

MAX_PROBLEM_PLOTS = 12
FLOOR = 1e-16  # log-scale plots clip f - f_L here
CEILING = 1e3  # and show at most this many times the largest starting gap; divergence leaves the plot
DATA_TAUS = (1e-3, 1e-7)
Run = dict[str, Any]
Trace = list[dict[str, Any]]
Styles = dict[str, dict[str, str]]
X_AXES: tuple[tuple[str, Callable[[dict[str, Any]], float]], ...] = (
    ("iterations", lambda p: p["iter"]),
    ("oracle calls (f + g + Hv + H)", calls),
    ("seconds", lambda p: p["seconds"]),
)
SEEDS_NOTE = ("Instances are problem x parameters x scale. Seeds are folded by the median cost per instance, an "
              "unsolved seed counting as infinite: a method solves an instance when it solves more than half "
              "its seeds.")


def write_report(directory: str | Path, title: str | None = None) -> Path:
    """Write DIR/report.md and DIR/plots/*.png from DIR/results.sqlite; return the report's path."""
    directory = Path(directory)
    (directory / "plots").mkdir(exist_ok=True)
    with Store(directory) as store:
        runs = store.runs()
        if not runs:
            raise ValueError(f"{directory}: no runs stored in results.sqlite")
        traces = {r["run_id"]: store.trace(r["run_id"]) for r in runs}
        styles = line_styles(sorted({r["label"] for r in runs}))
        sections = [header(runs, title or f"{runs[0]['experiment'] or directory.name}: report"),
                    summary_section(runs), problem_section(runs),
                    convergence_section(runs, traces, directory, styles),
                    performance_section(runs, directory, styles),
                    data_section(runs, traces, directory, styles),
                    *plugin_sections(store, directory)]
    path = directory / "report.md"
    path.write_text("\n\n".join(sections) + "\n")
    return path


# ---- text ---------------------------------------------------------------------------------------------------

def header(runs: list[Run], title: str) -> str:
    """Title and one line on what the store holds."""
    seeds = sorted({r["seed"] for r in runs})
    return (f"# {title}\n\n{len(runs)} runs: {len({r['label'] for r in runs})} methods x "
            f"{len({instance(r) for r in runs})} problem instances x {len(seeds)} seed{'s' * (len(seeds) > 1)} "
            f"({', '.join(map(str, seeds))}).")


def table(head: list[str], rows: list[list[str]]) -> str:
    """A markdown table, first column left-aligned and the rest right-aligned."""
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join([":---"] + ["---:"] * (len(head) - 1)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _num(value: float | None, fmt: str = ".3g") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def _median(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def by_label(runs: list[Run]) -> dict[str, list[Run]]:
    """Runs grouped by method label, labels sorted."""
    out: dict[str, list[Run]] = {}
    for r in sorted(runs, key=lambda r: r["label"]):
        out.setdefault(r["label"], []).append(r)
    return out


def summary_section(runs: list[Run]) -> str:
    """Headline table: per method, runs, solved (status converged), and medians over the solved runs."""
    rows = []
    for label, rs in by_label(runs).items():
        solved = [r for r in rs if r["status"] == "converged"]
        rows.append([label, str(len(rs)), str(len(solved)), f"{len(solved) / len(rs):.0%}",
                     *(_num(_median([r[k] for r in solved]), "g") for k in ("nfev", "ngev", "nhvp", "nhess")),
                     _num(_median([r["wall_seconds"] for r in solved]))])
    return ("## Summary\n\nSolved means status `converged`; medians are over the solved runs.\n\n"
            + table(["method", "runs", "solved", "solved share", "nfev", "ngev", "nhvp", "nhess", "wall s"], rows))


def instance_name(key: Instance) -> str:
    """Readable instance name: problem, its parameters if any, its scale if not 1."""
    problem, params, scale = key
    args = ", ".join(f"{k}={v}" for k, v in json.loads(params).items())
    return problem + (f"({args})" if args else "") + (f" (scale {scale:g})" if scale not in (None, 1) else "")


def cell(rs: list[Run]) -> str:
    """One problem x method cell: ✓ or status (or converged seeds / seeds), median iterations and final f."""
    statuses = Counter("✓" if r["status"] == "converged" else r["status"] for r in rs)
    status = statuses.most_common(1)[0][0] if len(statuses) == 1 else f"{statuses['✓']}/{len(rs)} ✓"
    return f"{status} · {_num(_median([r['nit'] for r in rs]), 'g')} · {_num(_median([r['f_final'] for r in rs]))}"


def problem_section(runs: list[Run]) -> str:
    """Problem x method table of status / iterations / final f (medians over seeds)."""
    labels = list(by_label(runs))
    cells: dict[Instance, dict[str, list[Run]]] = {}
    for r in runs:
        cells.setdefault(instance(r), {}).setdefault(r["label"], []).append(r)
    rows = [[instance_name(key)] + [cell(per[m]) if m in per else "-" for m in labels] for key, per in cells.items()]
    return ("## Per problem\n\nEach cell: ✓ (converged) or the status, or converged seeds / seeds when they differ "
            "· iterations · final f, medians over seeds.\n\n" + table(["problem"] + labels, rows))


def plugin_sections(store: Store, outdir: Path) -> list[str]:
    """Markdown of every report section registered by plugins (hook `optlab_reports`), by name."""
    out = []
    for name, entry in sorted(registry().entries("reports")["reports"].items()):
        try:
            out.append(entry.obj(store, outdir))
        except Exception as e:  # one broken plugin section must not cost the whole report
            out.append(f"## {name}\n\nThis section ({entry.source}) failed: {type(e).__name__}: {e}")
    return out


# ---- plots --------------------------------------------------------------------------------------------------

def line_styles(labels: list[str]) -> Styles:
    """A colour per method, cycling through 10 colours with a new dash pattern for each further 10."""
    return {label: {"color": f"C{i % 10}", "linestyle": ["-", "--", ":", "-."][i // 10 % 4]}
            for i, label in enumerate(labels)}


def legend(fig: Figure, ax: Axes) -> None:
    """One legend for the figure, outside the panels on the right."""
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize="small")


def new_figure(ncols: int, width: float) -> tuple[Figure, list[Axes]]:
    """A figure with `ncols` panels on an Agg canvas."""
    fig = Figure(figsize=(width, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(np.atleast_1d(fig.subplots(1, ncols)))


def save(fig: Figure, directory: Path, name: str) -> str:
    """Save `fig` as plots/<name>.png under `directory`; return the path relative to it."""
    rel = f"plots/{re.sub(r'[^A-Za-z0-9_.=-]+', '_', name).strip('_')}.png"
    fig.savefig(directory / rel, dpi=110)
    return rel


def median_band(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Common x grid and the 25/50/75% quantiles over curves, each held at its last value between points."""
    grid = np.linspace(min(x[0] for x, _ in curves), max(x[-1] for x, _ in curves), 300)
    held = []
    for x, y in curves:
        i = np.searchsorted(x, grid, side="right") - 1
        held.append(np.where(i >= 0, y[np.maximum(i, 0)], np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # grid points where all values are NaN or inf
        return grid, np.nanquantile(np.array(held), [0.25, 0.5, 0.75], axis=0)


def gap(trace: Trace, f_ref: float) -> np.ndarray:
    """f - f_L along a trace, clipped to [FLOOR, 1e300]: NaN or infinite f (divergence) is drawn off the top."""
    f = np.array([p["f"] for p in trace], dtype=float)
    return np.clip(np.where(np.isnan(f), np.inf, f - f_ref), FLOOR, 1e300)


def convergence_figure(name: str, runs: list[Run], traces: dict[str, Trace], f_ref: float, known: bool,
                       styles: Styles) -> Figure:
    """One problem: f - f_L against iterations, oracle calls and seconds; median over seeds, 25-75% band."""
    fig, axes = new_figure(3, 14.0)
    top = CEILING * max(gap(traces[r["run_id"]][:1], f_ref)[0] for r in runs if traces[r["run_id"]])
    for ax, (xlabel, x_of) in zip(axes, X_AXES):
        for label, rs in by_label(runs).items():
            # divergence is clipped just above the axis (so it is drawn off the top, without overflowing
            # matplotlib's log-scale autoscaling)
            curves = [(np.array([x_of(p) for p in traces[r["run_id"]]], dtype=float),
                       np.minimum(gap(traces[r["run_id"]], f_ref), 10 * top)) for r in rs if traces[r["run_id"]]]
            if curves:
                grid, (lo, mid, hi) = median_band(curves)
                ax.plot(grid, mid, label=label, **styles[label])
                ax.fill_between(grid, lo, hi, color=styles[label]["color"], alpha=0.2, linewidth=0)
        ax.set(yscale="log", xlabel=xlabel)
        ax.set_ylim(top=top)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("f - f*" if known else "f - min f seen")
    legend(fig, axes[0])
    fig.suptitle(f"{name}: median over seeds, band 25-75%")
    return fig


def convergence_section(runs: list[Run], traces: dict[str, Trace], directory: Path, styles: Styles) -> str:
    """A 3-panel convergence figure for each of the first MAX_PROBLEM_PLOTS instances."""
    f_low = reference_f(runs, traces)
    known = {instance(r) for r in runs if r["f_star"] is not None}
    keys = [k for k in dict.fromkeys(instance(r) for r in runs) if f_low.get(k) is not None]
    parts = ["## Convergence", "y is f - f* where f* is known, else f - (lowest f any run saw), on a log scale "
             f"clipped at {FLOOR:g}; lines are medians over seeds, bands the 25-75% quantiles."]
    for key in keys[:MAX_PROBLEM_PLOTS]:
        name = instance_name(key)
        rs = [r for r in runs if instance(r) == key]
        if not any(traces[r["run_id"]] for r in rs):
            parts.append(f"{name}: no run recorded an iterate (every one failed before its first).")
            continue
        fig = convergence_figure(name, rs, traces, f_low[key], key in known, styles)
        parts.append(f"![{name}]({save(fig, directory, 'convergence_' + name)})")
    if len(keys) > MAX_PROBLEM_PLOTS:
        parts.append(f"Only the first {MAX_PROBLEM_PLOTS} of {len(keys)} problem instances are plotted.")
    return "\n\n".join(parts)


def draw_profile(ax: Axes, curves: dict[str, np.ndarray], styles: Styles, log2: bool) -> None:
    """Step curves share_within(values, x) per method, x over every finite value (from 1 on a log2 axis)."""
    finite = np.concatenate([v[np.isfinite(v)] for v in curves.values()] + [np.array([1.0 if log2 else 0.0])])
    right = max(finite.max() * (2.0 if log2 else 1.1), 2.0 if log2 else 1.0)  # room to show the plateau
    xs = np.unique(np.concatenate([finite, [right]]))
    for label, values in curves.items():
        ax.step(xs, share_within(values, xs), where="post", label=label, **styles[label])
    if log2:
        ax.set_xscale("log", base=2)
    ax.set(ylim=(0, 1.02), xlim=(xs[0], right))
    ax.grid(alpha=0.3)


def if_solved(run: Run, cost: float | None) -> float:
    """The run's cost if it converged, else infinity (the profiles' "unsolved")."""
    return cost if run["status"] == "converged" and cost is not None else math.inf


def performance_section(runs: list[Run], directory: Path, styles: Styles) -> str:
    """Dolan-More performance profiles on oracle calls and wall time, with a how-to-read note and a table."""
    measures = {"oracle calls": lambda r: if_solved(r, calls(r)),
                "wall time": lambda r: if_solved(r, r["wall_seconds"])}
    tables = {measure: cost_table(runs, cost) for measure, cost in measures.items()}
    fig, axes = new_figure(2, 11.0)
    for ax, (measure, (_, costs)) in zip(axes, tables.items()):
        draw_profile(ax, ratios(costs), styles, log2=True)
        ax.set(title=f"cost: {measure}", xlabel="tau (cost / best cost), log2 scale", ylabel="rho_s(tau)")
    legend(fig, axes[0])
    (instances, calls_costs), (_, time_costs) = tables.values()
    calls_r, time_r = ratios(calls_costs), ratios(time_costs)
    rows = [[label, f"{np.mean(np.isfinite(calls_r[label])):.0%}", f"{np.mean(calls_r[label] <= 1):.0%}",
             f"{np.mean(time_r[label] <= 1):.0%}"] for label in calls_r]
    return "\n\n".join([
        "## Performance profiles (Dolan & More 2002)",
        "How to read: rho_s(tau) is the share of problem instances a method solved within tau times the best "
        "method's cost.\nIts value at tau = 1 is the share where the method was cheapest; its height at the right "
        "is the share it solved at all.",
        SEEDS_NOTE + f" {len(instances)} instances.",
        f"![performance profiles]({save(fig, directory, 'performance_profiles')})",
        table(["method", "solved", "cheapest in calls", "fastest in time"], rows)])


def data_section(runs: list[Run], traces: dict[str, Trace], directory: Path, styles: Styles) -> str:
    """More-Wild data profiles at tau = 1e-3 and 1e-7 against budget units of n + 1 oracle calls."""
    f_low = reference_f(runs, traces)
    fig, axes = new_figure(2, 11.0)
    for ax, tau in zip(axes, DATA_TAUS):
        _, units = cost_table(runs, lambda r: units_to_solve(traces[r["run_id"]], f_low[instance(r)], tau, r["n"]))
        draw_profile(ax, units, styles, log2=False)
        ax.set(title=f"tau = {tau:g}", xlabel="kappa (budget units: oracle calls / (n + 1))", ylabel="d_s(kappa)")
    legend(fig, axes[0])
    return "\n\n".join([
        "## Data profiles (More & Wild 2009)",
        "How to read: d_s(kappa) is the share of problem instances a method solved, f(x) - f_L <= tau (f0 - f_L), "
        "within kappa budget units of n + 1 oracle calls.\nThe left part shows who gets there on a small budget; "
        "the height at the right is the share solved at all. f_L is f* where known, else the best f any method found.",
        SEEDS_NOTE,
        f"![data profiles]({save(fig, directory, 'data_profiles')})"])
