"""`optlab report DIR`: report.md with judged tables, convergence plots and performance and data profiles.

Every run is judged at report time (`judge.py`) at an accuracy tau; headlines count solved (`global`)
runs, not statuses. Plots go to DIR/plots/ (PNG, and PDF or SVG on request), drawn by `report_figures`
(matplotlib, imported only when a figure is drawn: a report whose inputs did not change since its figures
were drawn reuses them, see `figures_key`).
"""
from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import importlib.metadata
import json
import math
import os
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from ..optim.status import Status
from ..registry import registry
from .cost import CostModel
from .judge import (
    SOLVED,
    TAU,
    VERDICTS,
    Instance,
    Reference,
    instance,
    references,
    verdict,
)
from .profiles import calls, cost_table, ratios, targets
from .store import DB_NAME, Store, TraceArrays, file_state

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_PROBLEM_PLOTS = 12
FLOOR = 1e-16  # log-scale plots clip f - f_ref here
CEILING = 1e3  # and show at most this many times the largest starting gap; divergence leaves the plot
DATA_TAUS = (1e-1, 1e-3, 1e-5, 1e-7)
BAND_SEEDS = 3  # bootstrap bands over seeds from this many seeds on
GRID_ROWS = 4  # instances per convergence figure: rows of instances x columns of x axes
FORMATS = ("png", "pdf", "svg")
Run = dict[str, Any]
Trace = TraceArrays
Styles = dict[str, dict[str, Any]]
MARKERS = ["o", "s", "^", "v", "D", "x", "+", "*", "P", "<", ">", "h"]
LINESTYLES = ["-", "--", ":", "-."]
SEEDS_NOTE = ("Instances are problem x parameters (the seed too, where the problem takes one) x scale. Seeds "
              "of one instance are folded by the median cost, an unsolved seed counting as infinite: a method "
              "solves an instance when it solves more than half its seeds.")


@dataclass
class Options:
    """What a report shows: accuracy, cost model, selections, x axes and their scale, file formats."""

    tau: float = TAU
    cost: CostModel | None = None  # None: the model stored with the runs (the config's), else the default
    methods: list[str] | None = None
    problems: list[str] | None = None
    axes: tuple[str, ...] = ("iterations", "cost")
    xscale: str = "auto"  # log, linear, or auto: log where the x values span more than 2 decades
    formats: tuple[str, ...] = ("png",)
    measures: tuple[str, ...] = ("cost", "calls", "seconds")
    reuse_figures: bool = True  # skip drawing when plots/ holds the figures of the very same inputs (`figures_key`)


AXES: dict[str, tuple[str, Callable[[TraceArrays, CostModel, int | None], np.ndarray]]] = {
    "iterations": ("iterations", lambda t, c, n: t.iter),
    "cost": ("weighted cost (gradients)", lambda t, c, n: c.costs(t, n)),
    "calls": ("oracle calls (f + g + Hv + H)", lambda t, c, n: t.nfev + t.ngev + t.nhvp + t.nhess),
    "seconds": ("seconds", lambda t, c, n: t.seconds),
    "nfev": ("f evaluations", lambda t, c, n: t.nfev),
    "ngev": ("gradient evaluations", lambda t, c, n: t.ngev),
    "nhvp": ("Hessian-vector products", lambda t, c, n: t.nhvp),
    "nhess": ("Hessian evaluations", lambda t, c, n: t.nhess),
}
MEASURES: dict[str, tuple[str, Callable[[Run, CostModel], float | None]]] = {
    "cost": ("weighted cost", lambda r, c: c.cost(r, r.get("n")) if r.get("n") is not None else None),
    "calls": ("oracle calls", lambda r, c: calls(r)),
    "seconds": ("wall time", lambda r, c: r.get("wall_seconds")),
    "nfev": ("f evaluations", lambda r, c: r.get("nfev")),
    "ngev": ("gradient evaluations", lambda r, c: r.get("ngev")),
    "nhvp": ("Hessian-vector products", lambda r, c: r.get("nhvp")),
    "nhess": ("Hessian evaluations", lambda r, c: r.get("nhess")),
}


@dataclass
class Study:
    """The runs a report shows, their references and verdicts, the cost model they are weighed by, and their
    traces, read from the store on first use (the figures read the plotted runs' and what data profiles search)."""

    runs: list[Run]
    refs: dict[Instance, Reference]
    verdicts: dict[str, str]
    options: Options
    cost: CostModel
    stored: list[Run]  # every stored run, before the selection: what plugin sections read
    keys: dict[str, Instance]  # run_id -> instance, computed once (a key is a JSON dump of the parameters)
    directory: Path
    traced: set[str]  # run ids with a trace
    _traces: dict[str, Trace] = field(default_factory=dict, repr=False)  # the traces read so far
    _all_read: bool = field(default=False, repr=False)

    def key(self, run: Run) -> Instance:
        """The instance of one of the study's runs."""
        return self.keys[run["run_id"]]

    @property
    def traces(self) -> dict[str, Trace]:
        """Every run's trace as columns (200,000 rows for the MGH study: read once, when asked)."""
        if not self._all_read:
            with Store(self.directory, readonly=True) as store:
                self._traces = store.trace_arrays()
            self._all_read = True
        return self._traces

    def traces_of(self, run_ids: list[str]) -> dict[str, Trace]:
        """The traces of `run_ids` that have one; those not read yet in one query (the convergence grids plot
        38,000 of the MGH study's 200,000 trace points: reading them all was a sixth of the report)."""
        missing = [] if self._all_read else [i for i in run_ids if i in self.traced and i not in self._traces]
        if missing:
            with Store(self.directory, readonly=True) as store:
                self._traces.update(store.trace_arrays(missing))
        return {i: self._traces[i] for i in run_ids if i in self._traces}

    def trace(self, run_id: str) -> Trace:
        """One run's trace (which it must have)."""
        return self.traces_of([run_id])[run_id]

    def infos(self) -> dict[str, list[dict[str, Any]]]:
        """run_id -> the per-iteration diagnostics its trace recorded (without reading the traces if not read)."""
        if self._all_read:
            return {k: [p for p in t.info if p] for k, t in self._traces.items() if t.info}
        with Store(self.directory, readonly=True) as store:
            return store.trace_infos()

    def units_to_solve(self, taus: tuple[float, ...], measures: dict[str, Callable[[Trace, Run], np.ndarray]]
                       ) -> dict[tuple[str, str], np.ndarray]:
        """(run_id, measure) -> `units_to_solve_at` each of the decreasing `taus` for every run: the measure's
        budget at the first point that meets each target, the points found by the store (`first_points_at_most`)
        rather than in traces read whole."""
        out = {}
        with Store(self.directory, readonly=True) as store:
            for r in self.runs:
                f_low = self.refs[self.key(r)].f
                f0 = store.first_f(r["run_id"]) if f_low is not None and r["run_id"] in self.traced else None
                points = ([] if f0 is None or f_low is None
                          else store.first_points_at_most(r["run_id"], targets(f0, f_low, taus)))
                for measure, budget in measures.items():
                    units = np.full(len(taus), math.inf)
                    units[:len(points)] = [budget(point, r)[0] for point in points]
                    out[r["run_id"], measure] = units
        return out


_read_cache: dict[Path, tuple[tuple[tuple[int, int, int], ...], list[Run]]] = {}


def stored_runs(directory: Path) -> list[Run]:
    """The store's run rows, read once per state of its files (the cost model and the report both need them).
    A run killed before it returned stored no n: it gets its instance's, so that its weighted cost counts
    its Hessians (a Hessian weighs n)."""
    path = (Path(directory) / DB_NAME).resolve()
    with Store(directory, readonly=True) as store:
        state = file_state(path)
        cached = _read_cache.get(path)
        if cached is None or cached[0] != state:
            _read_cache.clear()
            _read_cache[path] = cached = (state, _with_sizes(store.runs()))
    return cached[1]


def _with_sizes(runs: list[Run]) -> list[Run]:
    sizes = {instance(r): r["n"] for r in runs if r.get("n") is not None}
    for r in runs:
        if r.get("n") is None and instance(r) in sizes:
            r["n"] = sizes[instance(r)]
    return runs


def load(directory: Path, options: Options) -> Study:
    """The store's runs (selected), traces and judgement; the cost model is the one stored with the runs."""
    runs = stored = stored_runs(directory)
    if not runs:
        raise ValueError(f"{directory}: no runs stored in results.sqlite")
    with Store(directory, readonly=True) as store:
        traced = store.traced_ids()
    for key, wanted in (("label", options.methods), ("problem", options.problems)):
        if wanted is not None:
            unknown = sorted(set(wanted) - {r[key] for r in runs})
            if unknown:
                raise ValueError(f"{directory}: no runs of {', '.join(map(repr, unknown))} "
                                 f"(stored: {', '.join(sorted({r[key] for r in runs}))})")
            runs = [r for r in runs if r[key] in wanted]
    refs = references(runs)
    cost = options.cost or cost_model(stored)
    keys = {r["run_id"]: instance(r) for r in runs}
    return Study(runs, refs, {r["run_id"]: verdict(r, refs[keys[r["run_id"]]], options.tau) for r in runs},
                 options, cost, stored, keys, Path(directory), traced)


def write_report(directory: str | Path, title: str | None = None, options: Options | None = None,
                 to: str | Path | None = None) -> Path:
    """Write report.md and plots/* (in DIR, or `to`) from DIR/results.sqlite; return the report's path.

    The store is only read, so a read-only experiment folder can be reported elsewhere with `to`.
    """
    directory = Path(directory)
    out = Path(to) if to is not None else directory
    options = options or Options()
    study = load(directory, options)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    key = figures_key(directory, options)
    plots = Plots(out, options.formats, draw=not (options.reuse_figures and drawn_before(out, key)))
    styles = line_styles(sorted({r["label"] for r in study.runs}))
    runs = study.runs
    with gc_paused():
        sections = [header(runs, title or f"{runs[0]['experiment'] or directory.name}: report", options),
                    summary_section(study), problem_section(study), diagnostics_section(study),
                    convergence_section(study, plots, styles), performance_section(study, plots, styles),
                    data_section(study, plots, styles)]
        if plots.draw:
            record_figures(out, key, plots.files)
        with Store(directory, readonly=True) as store:
            sections += plugin_sections(ReadRuns(store, study.stored), out)
    path = out / "report.md"
    path.write_text("\n\n".join(s for s in sections if s) + "\n")
    return path


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while traces are read, the sections built and the figures drawn: they make many
    small objects, and each collection walked the 90,000 objects already alive (runs, traces, matplotlib's own),
    0.1 s of the MGH report's 3 s. At the end what is alive moves to the oldest generation unscanned (freeze, then
    unfreeze), or the first young collection after the pause walked all of it (0.12 s); the next full collection
    frees what of it is garbage."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


# ---- figures drawn once per input -------------------------------------------------------------------------

MANIFEST = "plots/figures.json"
FIGURE_CODE = ("report.py", "report_figures.py", "report_axes.py", "profiles.py", "judge.py", "cost.py",
               "store.py")  # what draws them


def figures_key(directory: Path, options: Options) -> str:
    """A digest of everything the figures are drawn from: the store's bytes (runs and traces), the options
    but the title, the code that draws them (these modules, matplotlib's and numpy's versions) and the
    matplotlibrc files matplotlib would read. Equal digests mean the same pictures; any change redraws."""
    h = hashlib.sha256()
    for name in (DB_NAME, DB_NAME + "-wal"):
        stored = Path(directory) / name
        h.update(stored.read_bytes() if stored.exists() else b"-")
    here = Path(__file__).resolve().parent
    for name in FIGURE_CODE:
        h.update((here / name).read_bytes())
    for pkg in ("matplotlib", "numpy"):
        h.update(importlib.metadata.version(pkg).encode())
    rc = [os.environ.get("MATPLOTLIBRC", ""), "matplotlibrc",
          os.path.join(os.environ.get("MPLCONFIGDIR") or os.path.expanduser("~/.config/matplotlib"), "matplotlibrc")]
    for rcfile in rc:
        h.update(Path(rcfile).read_bytes() if rcfile and os.path.isfile(rcfile) else b"-")
    h.update(repr([(f.name, getattr(options, f.name)) for f in fields(options) if f.name != "reuse_figures"]).encode())
    return h.hexdigest()


def drawn_before(out: Path, key: str) -> bool:
    """Whether plots/ holds every figure of a report drawn from inputs with this digest, each file unchanged in size."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
        files = manifest["files"]
        return bool(manifest["key"] == key and files and all((out / f).stat().st_size == n for f, n in files.items()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def record_figures(out: Path, key: str, files: list[str]) -> None:
    """Write the manifest that lets the next report skip drawing the same figures."""
    (out / MANIFEST).write_text(json.dumps({"key": key, "files": {f: (out / f).stat().st_size for f in files}},
                                           indent=1) + "\n")


class Plots:
    """Where a report's figures go: `save(name, make)` draws `make()` into plots/<name>.<format> for each
    format and returns the markdown path; with `draw` False (figures of the same inputs are there) it returns
    the path only, so that a report without changed inputs imports no matplotlib and draws nothing."""

    def __init__(self, directory: Path, formats: tuple[str, ...], draw: bool = True) -> None:
        self.directory, self.formats, self.draw = directory, formats, draw
        self.files: list[str] = []

    def save(self, name: str, make: Callable[[], Figure]) -> str:
        stem = f"plots/{re.sub(r'[^A-Za-z0-9_.=-]+', '_', name).strip('_')}"
        if self.draw:
            from .report_figures import save

            save(make(), self.directory, name, self.formats)
        self.files += [f"{stem}.{fmt}" for fmt in self.formats]
        return f"{stem}.{self.formats[0]}"


def cost_model(runs: list[Run]) -> CostModel:
    """The cost model the runs were stored with (the config's; the last one stored), or the default."""
    models = [r["cost_model"] for r in runs if r.get("cost_model")]
    return CostModel(**models[-1]) if models else CostModel()


def stored_cost_model(directory: Path) -> CostModel:
    """The cost model of the runs stored in `directory` (see `cost_model`)."""
    return cost_model(stored_runs(directory))


def chosen_cost_model(directory: Path, choice: str) -> CostModel:
    """`--cost`: 'stored' (the runs' own model), 'default' (today's defaults) or 'KIND=WEIGHT,...'."""
    if choice == "stored":
        return stored_cost_model(directory)
    return CostModel() if choice == "default" else CostModel.parse(choice)


class ReadRuns:
    """A read-only store for plugin sections whose `runs()` are the rows the report already read."""

    def __init__(self, store: Store, runs: list[Run]) -> None:
        self._store, self._runs = store, runs

    def runs(self) -> list[Run]:
        return self._runs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


# ---- text ---------------------------------------------------------------------------------------------------

def header(runs: list[Run], title: str, options: Options) -> str:
    """Title, what the store holds, and the versions it came from."""
    seeds = sorted({r["seed"] for r in runs})
    versions = sorted({json.dumps(r["versions"], sort_keys=True) for r in runs if r.get("versions")})
    made = "; ".join(", ".join(f"{k} {v}" for k, v in json.loads(v).items()) for v in versions)
    return (f"# {title}\n\n{len(runs)} runs: {len({r['label'] for r in runs})} methods x "
            f"{len({instance(r) for r in runs})} problem instances x {len(seeds)} seed{'s' * (len(seeds) > 1)} "
            f"({', '.join(map(str, seeds))}). Judged at tau = {options.tau:g}."
            + (f" Runs made with {made}." if made else "") + f" Report written by {source_commit()}.")


def source_commit() -> str:
    """The optlab commit this report is written at, from git where optlab is a checkout (else its version)."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--", ".."],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = dirty = ""
    if not head:
        return f"optlab {importlib.metadata.version('optlab')} (not a git checkout)"
    return f"optlab at commit {head}" + (" with uncommitted changes to optlab/" if dirty else "")


def table(head: list[str], rows: list[list[str]]) -> str:
    """A markdown table, first column left-aligned and the rest right-aligned."""
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join([":---"] + ["---:"] * (len(head) - 1)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _num(value: float | None, fmt: str = ".3g") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def _median(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None]
    if len(values) == 1:  # one seed (most studies): the value itself, without np.median's 70 us
        return float(values[0])
    return float(np.median(values)) if values else None


def by_label(runs: list[Run]) -> dict[str, list[Run]]:
    """Runs grouped by method label, labels sorted."""
    out: dict[str, list[Run]] = {}
    for r in sorted(runs, key=lambda r: r["label"]):
        out.setdefault(r["label"], []).append(r)
    return out


def by_instance(runs: list[Run]) -> dict[Instance, list[Run]]:
    """Runs grouped by instance, in store order."""
    out: dict[Instance, list[Run]] = {}
    for r in runs:
        out.setdefault(instance(r), []).append(r)
    return out


def summary_section(study: Study) -> str:
    """Headline: per method, runs solved at tau (verdict global), the other verdicts, and the old status count."""
    rows = []
    for label, rs in by_label(study.runs).items():
        verdicts = Counter(study.verdicts[r["run_id"]] for r in rs)
        solved = [r for r in rs if study.verdicts[r["run_id"]] == SOLVED]
        rows.append([label, str(len(rs)), f"**{verdicts[SOLVED]}**", f"{verdicts[SOLVED] / len(rs):.0%}",
                     *(str(verdicts[v]) for v in VERDICTS[1:]),
                     str(sum(r["status"] == Status.CONVERGED for r in rs)),
                     _num(_median([MEASURES["cost"][1](r, study.cost) for r in solved])),
                     _num(_median([calls(r) for r in solved]), "g"),
                     _num(_median([r["wall_seconds"] for r in solved]))])
    unknown = sorted({instance_name(k) for k, ref in study.refs.items() if not ref.known})
    note = (f" f* is not known for {len(unknown)} instance{'s' * (len(unknown) > 1)} ({', '.join(unknown)}): "
            "there the best final f any method found serves as f*." if unknown else "")
    return ("## Summary\n\n"
            f"Solved means verdict `global`: the final f is within tau = {study.options.tau:g} of f*, "
            "f - f* <= tau max(1, |f*|). `local`: within tau of a listed local minimum; `stationary`: elsewhere, "
            "at a point that passes the stationarity test (scaled gradient <= 1e-8); `unsolved`: anything else. "
            "`converged` is the old count by status (the stopping test held), shown for comparison. Medians are "
            f"over the solved runs.{note}\n\n"
            + table(["method", "runs", "solved", "solved share", "local", "stationary", "unsolved", "converged",
                     "cost", "calls", "wall s"], rows))


def instance_name(key: Instance) -> str:
    """Readable instance name: problem, its parameters that are not defaults-only, its scale if not 1."""
    problem, params, scale = key
    shown = {k: v for k, v in json.loads(params).items() if k != "scale"}
    args = ", ".join(f"{k}={v}" for k, v in shown.items())
    return problem + (f"({args})" if args else "") + (f" (scale {scale:g})" if scale not in (None, 1) else "")


def cell(rs: list[Run], verdicts: dict[str, str]) -> str:
    """One problem x method cell: verdict (and status when not converged) · median iterations · median final f."""
    labels = Counter(verdicts[r["run_id"]] + ("" if r["status"] == Status.CONVERGED else f" ({r['status']})")
                     for r in rs)
    if len(labels) == 1:
        head = next(iter(labels))
    else:
        head = ", ".join(f"{n} {v}" for v, n in labels.most_common())
    return f"{head} · {_num(_median([r['nit'] for r in rs]), 'g')} · {_num(_median([r['f_final'] for r in rs]))}"


def nondeterministic(runs: list[Run]) -> set[str]:
    """Labels of methods whose plugin declares `deterministic = False` (their cells may differ between sweeps)."""
    flagged = set()
    for name in {r["optimizer"] for r in runs}:  # once per optimizer, not per run (840 look-ups for the MGH study)
        try:  # a built-in's from the catalogue: importing the MGH study's optimizers took 0.15 s
            deterministic = registry().attribute("optimizers", name, "deterministic")
        except Exception:  # a plugin no longer installed: nothing known
            continue
        if not deterministic:
            flagged.add(name)
    return {r["label"] for r in runs if r["optimizer"] in flagged}


def problem_section(study: Study) -> str:
    """Instance x method table of verdict / iterations / final f, with each instance's reference value."""
    labels = list(by_label(study.runs))
    marked = nondeterministic(study.runs)
    rows = []
    for key, rs in by_instance(study.runs).items():
        per = by_label(rs)
        ref = study.refs[key]
        shown = "-" if ref.f is None else f"{ref.f:.6g}" + ("" if ref.known else " (best found)")
        rows.append([instance_name(key), shown] + [cell(per[m], study.verdicts) if m in per else "-" for m in labels])
    note = (f" † marks methods that are not deterministic ({', '.join(sorted(marked))}): their cells can differ "
            "between two sweeps of the same config." if marked else "")
    return ("## Per problem\n\nEach cell: verdict at tau (with the status when the run did not stop by the "
            "stationarity test) · iterations · final f, medians over seeds. The reference is f* (or the best "
            f"final f found, where f* is not known).{note}\n\n"
            + table(["problem", "reference"] + [m + " †" * (m in marked) for m in labels], rows))


def diagnostics_section(study: Study) -> str:
    """Per-iteration diagnostics that methods record (trace key `info`), summarized per instance and method."""
    rows = []
    infos = study.infos()
    for key, rs in by_instance(study.runs).items():
        for label, runs in by_label(rs).items():
            points = [p for r in runs for p in infos.get(r["run_id"], ()) if p]
            if points:
                rows.append([instance_name(key), label, summarize_info(points)])
    if not rows:
        return ""
    return ("## Diagnostics\n\nWhat methods record per iteration, over all iterations of the runs: numbers as "
            "mean [min, max] and last, flags as how many iterations raised them.\n\n"
            + table(["problem", "method", "diagnostics"], rows))


def summarize_info(points: list[dict[str, Any]]) -> str:
    """'cg_iters 3.2 [1, 7] last 5; neg_curv 2/14' for a list of per-iteration info dicts."""
    parts = []
    # a comprehension per name and its values' types as a set: a third of the time of appending value by value
    # and testing each (the MGH study's diagnostics hold 215,000 values)
    for name in sorted(set().union(*points)):
        values = [v for p in points if (v := p.get(name)) is not None]
        types = set(map(type, values))
        if types == {bool}:
            parts.append(f"{name} {sum(values)}/{len(values)}")
        elif values and types <= {bool, int, float}:
            arr = np.array(values, dtype=float)
            parts.append(f"{name} {np.mean(arr):.3g} [{np.min(arr):.3g}, {np.max(arr):.3g}] last {arr[-1]:.3g}")
    return "; ".join(parts)


def plugin_sections(store: Store | ReadRuns, outdir: Path) -> list[str]:
    """Markdown of every report section registered by plugins (hook `optlab_reports`), by name."""
    out = []
    for name, entry in sorted(registry().entries("reports")["reports"].items()):
        try:
            text = entry.obj(store, outdir)
            if text:  # None: no run of this store is the section's
                out.append(text)
        except Exception as e:  # one broken plugin section must not cost the whole report
            out.append(f"## {name}\n\nThis section ({entry.source}) failed: {type(e).__name__}: {e}")
    return out


# ---- plots --------------------------------------------------------------------------------------------------

def line_styles(labels: list[str]) -> Styles:
    """Colour, line style and marker per method, so methods stay apart in grey print too."""
    return {label: {"color": f"C{i % 10}", "linestyle": LINESTYLES[i % 4], "marker": MARKERS[i % len(MARKERS)]}
            for i, label in enumerate(labels)}


def convergence_section(study: Study, plots: Plots, styles: Styles) -> str:
    """Convergence grids of the first MAX_PROBLEM_PLOTS instances, GRID_ROWS instances per figure."""
    groups = [(k, rs) for k, rs in by_instance(study.runs).items() if study.refs[k].f is not None]
    parts = ["## Convergence", ("One row per problem instance, one column per x axis "
             f"({', '.join(study.options.axes)}; log where they span more than two decades). y is the best f so far "
             "minus f* (or minus the best final f found, where f* is not known), on a log scale clipped at "
             f"{FLOOR:g}. With several seeds the line is the median over seeds, and from {BAND_SEEDS} seeds on a band "
             "shows the 95% bootstrap interval of that median.")]
    rows = []
    for key, rs in groups[:MAX_PROBLEM_PLOTS]:
        name, traced = instance_name(key), [r for r in rs if r["run_id"] in study.traced]
        if traced:
            rows.append((name, traced, study.refs[key]))
        else:
            parts.append(f"{name}: no run recorded an iterate (every one failed before its first).")
    figures: dict[int, Figure] = {}  # by number of rows: full grids share one figure
    if plots.draw:  # every plotted trace in one query
        study.traces_of([r["run_id"] for _, traced, _ in rows for r in traced])

    def draw(chunk: list[tuple[str, list[Run], Reference]]) -> Figure:
        from .report_figures import convergence_grid, grid_figure

        if len(chunk) not in figures:
            figures[len(chunk)] = grid_figure(len(chunk), len(study.options.axes), styles)
        return convergence_grid(chunk, study, styles, figures[len(chunk)])

    for k in range(0, len(rows), GRID_ROWS):
        chunk = rows[k:k + GRID_ROWS]
        names = ", ".join(name for name, _, _ in chunk)
        parts.append(f"![{names}]({plots.save(f'convergence_{k // GRID_ROWS + 1}', functools.partial(draw, chunk))})")
    if len(groups) > MAX_PROBLEM_PLOTS:
        parts.append(f"Only the first {MAX_PROBLEM_PLOTS} of {len(groups)} problem instances are plotted "
                     "(`optlab report --problems ...` selects others).")
    return "\n\n".join(parts)


def performance_section(study: Study, plots: Plots, styles: Styles) -> str:
    """Dolan-More performance profiles on each chosen measure, solved meaning verdict global at tau."""
    def solved_cost(measure: str) -> Callable[[Run], float]:
        def cost(r: Run) -> float:
            value = MEASURES[measure][1](r, study.cost)
            return value if study.verdicts[r["run_id"]] == SOLVED and value is not None else math.inf
        return cost

    measures = study.options.measures
    tables = {m: cost_table(study.runs, solved_cost(m), study.key) for m in measures}
    profile = {m: ratios(costs, floor=0.0 if m in ("cost", "seconds") else 1.0) for m, (_, costs) in tables.items()}

    def draw() -> Figure:
        from .report_figures import draw_profile, legend, new_figure

        fig, axes = new_figure(len(measures), 4.6 * len(measures) + 1.6)
        for ax, m in zip(axes, measures):
            draw_profile(ax, profile[m], styles, "log2", ylabels=ax is axes[0])
            ax.set(xlabel="ratio to the best method's cost, log2 scale", ylabel="rho_s(tau)" if ax is axes[0] else "")
            ax.set_title(f"cost: {MEASURES[m][0]}", y=1.0)  # a fixed place (see report_figures.convergence_grid)
        legend(fig, axes[0], styles)
        return fig

    first = profile[measures[0]]
    rows = [[label, f"{np.mean(np.isfinite(first[label])):.0%}"] + [f"{np.mean(profile[m][label] <= 1):.0%}"
                                                                   for m in measures] for label in first]
    instances = tables[measures[0]][0]
    return "\n\n".join([
        "## Performance profiles (Dolan & More 2002)",
        ("How to read: rho_s(tau) is the share of problem instances a method solved (verdict global at "
         f"tau = {study.options.tau:g}) within tau times the best method's cost.\nIts value at ratio 1 is the share "
         "where the method was cheapest; its height at the right is the share it solved at all. A count of 0 is "
         "taken as 1 in ratios, so that a method needing no call of a kind is the cheapest in it."),
        cost_note(study.cost), SEEDS_NOTE + f" {len(instances)} instances.",
        f"![performance profiles]({plots.save('performance_profiles', draw)})",
        table(["method", "solved"] + [f"cheapest in {MEASURES[m][0]}" for m in measures], rows)])


def cost_note(cost: CostModel) -> str:
    """One line on the cost model in use."""
    return (f"Weighted cost, in gradients: f {cost.f}, gradient {cost.grad}, Hessian-vector product {cost.hvp}, "
            f"Hessian {cost.hessian} (the config's `cost:`).")


DATA_MEASURES = {"cost": "kappa (weighted cost, gradients)", "seconds": "kappa (seconds)"}


def data_section(study: Study, plots: Plots, styles: Styles) -> str:
    """More-Wild data profiles at each tau of DATA_TAUS (columns) against weighted cost and against seconds (rows)."""
    options = study.options

    def draw() -> Figure:
        from .report_figures import draw_profile, legend, new_figure

        fig, axes = new_figure(len(DATA_TAUS), 4.0 * len(DATA_TAUS) + 1.6, nrows=len(DATA_MEASURES), height=7.4)
        units_of = study.units_to_solve(DATA_TAUS, {
            "cost": lambda t, r: study.cost.costs(t, r.get("n")), "seconds": lambda t, r: t.seconds})

        def units_at(tau: float, measure: str) -> Callable[[Run], float]:
            k = DATA_TAUS.index(tau)
            return lambda r: float(units_of[r["run_id"], measure][k])

        panels = iter(axes)
        for measure, xlabel in DATA_MEASURES.items():
            for tau in DATA_TAUS:
                ax = next(panels)
                _, units = cost_table(study.runs, units_at(tau, measure), study.key)
                draw_profile(ax, units, styles, options.xscale, ylabels=tau == DATA_TAUS[0])
                ax.set(xlabel=xlabel, ylabel="d_s(kappa)" if tau == DATA_TAUS[0] else "")
                ax.set_title(f"tau = {tau:g}", y=1.0)
        legend(fig, axes[0], styles)
        return fig

    return "\n\n".join([
        "## Data profiles (More & Wild 2009)",
        ("How to read: d_s(kappa) is the share of problem instances a method solved in More and Wild's sense, "
         "f(x) - f_L <= tau (f0 - f_L), within a budget of kappa, at tau = "
         f"{', '.join(f'{t:g}' for t in DATA_TAUS)} (columns); the budget is the weighted cost in gradients "
         "(top row) and the wall time in seconds (bottom row).\nThe left part shows who gets there on a small "
         "budget; the height at the right is the share solved at all. f_L is f* where known, else the best final "
         "f found."),
        cost_note(study.cost), SEEDS_NOTE,
        f"![data profiles]({plots.save('data_profiles', draw)})"])
