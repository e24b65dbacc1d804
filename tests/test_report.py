"""`optlab report`: profile maths checked by hand on a synthetic store, the report's tables, plots and CLI."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from optlab.cli import main
from optlab.experiment.judge import instance, judge, references
from optlab.experiment.profiles import (
    calls,
    cost_table,
    ratios,
    seed_median,
    share_within,
    units_to_solve,
    units_to_solve_at,
)
from optlab.experiment.report import Options, summarize_info, write_report
from optlab.experiment.store import Store

# (problem, f*, method) -> (f offset, decay factor, iterations, status); every iteration costs 1 f + 1 g.
# p1, p2 have f* = 0 and f_k = r^k; p3 has no f*, f_k = 5 + r^k, and B stops early unsolved.
RUNS = {
    ("p1", 0.0, "A"): (0.0, 0.01, 4, "converged"), ("p1", 0.0, "B"): (0.0, 0.2, 12, "converged"),
    ("p2", 0.0, "A"): (0.0, 0.2, 12, "converged"), ("p2", 0.0, "B"): (0.0, 0.01, 4, "converged"),
    ("p3", None, "A"): (5.0, 0.01, 2, "converged"), ("p3", None, "B"): (5.0, 0.5, 4, "max_iter"),
}
SEEDS = (0, 1)
N = 2  # budget unit: n + 1 = 3 oracle calls


def synthetic(directory: Path) -> None:
    """2 methods x 3 problems x 2 seeds; seed s takes (1 + s) x 0.01 s per oracle call."""
    with Store(directory) as store:
        for (problem, f_star, label), (offset, rate, iters, status) in RUNS.items():
            for seed in SEEDS:
                trace = [{"iter": k, "f": offset + rate ** k, "gnorm": rate ** k, "nfev": k + 1, "ngev": k + 1,
                          "nhvp": 0, "nhess": 0, "seconds": 0.02 * (1 + seed) * (k + 1)} for k in range(iters + 1)]
                store.write({"run_id": f"{problem}-{label}-{seed}", "experiment": "synthetic", "problem": problem,
                             "problem_params": {}, "n": N, "optimizer": label.lower(), "optimizer_params": {},
                             "label": label, "seed": seed, "scale": 1.0, "status": status, "nit": iters,
                             "nfev": iters + 1, "ngev": iters + 1, "nhvp": 0, "nhess": 0,
                             "wall_seconds": trace[-1]["seconds"], "f0": trace[0]["f"], "f_final": trace[-1]["f"],
                             "gnorm_final": trace[-1]["gnorm"], "f_star": f_star}, trace)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    synthetic(tmp_path)
    return tmp_path


def load(directory: Path) -> tuple[list[dict], dict[str, list[dict]]]:
    with Store(directory) as store:
        runs = store.runs()
        return runs, {r["run_id"]: store.trace(r["run_id"]) for r in runs}


def test_performance_profile_by_hand(store_dir: Path) -> None:
    # calls: p1 A 10, B 26; p2 A 26, B 10; p3 A 6, B unsolved -> ratios A (1, 2.6, 1), B (2.6, 1, inf)
    runs, _ = load(store_dir)
    instances, costs = cost_table(runs, lambda r: calls(r) if r["status"] == "converged" else math.inf)
    assert [i[0] for i in instances] == ["p1", "p2", "p3"]
    r = ratios(costs)
    np.testing.assert_allclose(r["A"], [1.0, 2.6, 1.0])
    np.testing.assert_allclose(r["B"], [2.6, 1.0, math.inf])
    np.testing.assert_allclose(share_within(r["A"], [1.0, 2.5, 2.6]), [2 / 3, 2 / 3, 1.0])
    np.testing.assert_allclose(share_within(r["B"], [1.0, 2.5, 2.6, 1e9]), [1 / 3, 1 / 3, 2 / 3, 2 / 3])


def test_time_profile_uses_median_over_seeds(store_dir: Path) -> None:
    # seed 0 takes 0.02 s per iteration, seed 1 0.04 s: the median is 0.03 s per iteration
    runs, _ = load(store_dir)
    _, costs = cost_table(runs, lambda r: r["wall_seconds"] if r["status"] == "converged" else math.inf)
    np.testing.assert_allclose(costs["A"], [0.15, 0.39, 0.09])
    np.testing.assert_allclose(ratios(costs)["A"], [1.0, 2.6, 1.0])


def test_data_profile_by_hand(store_dir: Path) -> None:
    # tau 1e-3: 0.01^2 and 0.2^5 first pass -> 6 and 12 calls = 2 and 4 units; p3: f_L = 5.0001 reached by A
    # at iteration 2 (2 units), never by B. tau 1e-7: 0.01^4 and 0.2^11 -> 10 and 24 calls = 10/3 and 8 units.
    runs, traces = load(store_dir)
    refs = references(runs)
    f_low = {k: ref.f for k, ref in refs.items()}
    assert f_low[instance(runs[0])] == 0.0 and f_low[("p3", "{}", 1.0)] == pytest.approx(5.0001)
    assert refs[instance(runs[0])].known and not refs[("p3", "{}", 1.0)].known
    expected = {1e-3: {"A": [2, 4, 2], "B": [4, 2, math.inf]}, 1e-7: {"A": [10 / 3, 8, 2], "B": [8, 10 / 3, math.inf]}}
    for tau, per_method in expected.items():
        _, units = cost_table(runs, lambda r, tau=tau: units_to_solve(
            np.array([p["f"] for p in traces[r["run_id"]]]),
            np.array([calls(p) / (N + 1) for p in traces[r["run_id"]]]), f_low[instance(r)], tau))
        for label, want in per_method.items():
            np.testing.assert_allclose(units[label], want)
    np.testing.assert_allclose(share_within(np.array([2, 4, 2.0]), [1.9, 2, 3.9, 4]), [0, 2 / 3, 2 / 3, 1])
    np.testing.assert_allclose(share_within(np.array([8, 10 / 3, math.inf]), [10 / 3, 8, 1e9]), [1 / 3, 2 / 3, 2 / 3])


def test_units_at_several_tau_match_one_at_a_time() -> None:
    # f goes up, is NaN and repeats a value: the first point at or below each target, by hand
    f = np.array([10.0, 12.0, np.nan, 1.0, 3.0, 1.0, 0.5, 0.001])
    costs = np.arange(1.0, 9.0) * 2
    taus = [2.0, 0.5, 0.1, 0.05, 1e-4, 1e-9]  # targets 20, 5, 1, 0.5, 0.001, ~0 with f_L = 0
    np.testing.assert_array_equal(units_to_solve_at(f, costs, 0.0, taus), [2, 8, 8, 14, 16, math.inf])
    assert [units_to_solve(f, costs, 0.0, t) for t in taus] == [2, 8, 8, 14, 16, math.inf]
    assert np.isinf(units_to_solve_at(np.array([]), np.array([]), 0.0, taus)).all()
    assert np.isinf(units_to_solve_at(f, costs, None, taus)).all()


def test_the_store_finds_the_points_units_to_solve_at_reads(tmp_path: Path) -> None:
    # the trace of the test above, its NaN stored as NULL: the store's first points at or below each target
    # (searched by SQLite) carry the costs units_to_solve_at reads from the whole trace; a NaN f0 meets nothing
    from optlab.experiment.profiles import targets

    f = [10.0, 12.0, math.nan, 1.0, 3.0, 1.0, 0.5, 0.001]
    with Store(tmp_path) as store:
        for run_id, fs in (("r", f), ("nan0", [math.nan, 1.0])):
            store.write({"run_id": run_id, "problem": "p", "label": "A", "seed": 0, "scale": 1.0, "status": "x"},
                        [{"iter": 10 + k, "f": v, "nfev": 2 * (k + 1), "seconds": 0.5 * k} for k, v in enumerate(fs)])
    taus = [2.0, 0.5, 0.1, 0.05, 1e-4, 1e-9]
    with Store(tmp_path, readonly=True) as store:
        assert store.first_f("r") == 10.0 and math.isnan(store.first_f("nan0")) and store.first_f("none") is None
        points = store.first_points_at_most("r", targets(10.0, 0.0, taus))
        assert [p.nfev[0] for p in points] == [2, 8, 8, 14, 16]  # the sixth target is never met
        assert [p.iter[0] for p in points] == [10, 13, 13, 16, 17] and points[0].seconds[0] == 0.0
        assert store.first_points_at_most("nan0", targets(math.nan, 0.0, taus)) == []
        with pytest.raises(ValueError, match="nonincreasing"):
            store.first_points_at_most("r", np.array([1.0, 2.0]))
    np.testing.assert_array_equal(units_to_solve_at(np.array(f), 2.0 * np.arange(1, 9), 0.0, taus),
                                  [p.nfev[0] for p in points] + [math.inf])


def test_summarize_info_by_hand() -> None:
    # cg_iters: 2, 4, 9 (None skipped) -> mean 5; neg_curv raised 1 of 2; note is text: left out; radius never set
    points = [{"cg_iters": 2, "neg_curv": False, "note": "x"}, {"cg_iters": None, "radius": None},
              {"cg_iters": 4, "neg_curv": True}, {"cg_iters": 9.0}]
    assert summarize_info(points) == "cg_iters 5 [2, 9] last 9; neg_curv 1/2"


def test_seed_median_needs_most_seeds_solved() -> None:
    assert seed_median([4.0, 6.0, math.inf]) == 6.0
    assert seed_median([4.0, math.inf]) == math.inf
    assert seed_median([]) == math.inf


def test_ratio_is_inf_when_nobody_solved() -> None:
    r = ratios({"A": np.array([math.inf, 0.0]), "B": np.array([math.inf, 3.0])})
    np.testing.assert_array_equal(r["A"], [math.inf, 1.0])
    np.testing.assert_array_equal(r["B"], [math.inf, math.inf])
    # counts floored at 1: a method that needs no HVP is cheapest, one needing 3 is 3 times that
    r = ratios({"A": np.array([0.0]), "B": np.array([3.0])}, floor=1.0)
    np.testing.assert_array_equal(r["A"], [1.0]) and np.testing.assert_array_equal(r["B"], [3.0])


def test_verdicts_on_the_synthetic_store(store_dir: Path) -> None:
    # A ends within 1e-6 of f* = 0 on p1, p2 and is the best found on p3; B's p3 run stops at 5.0625 unconverged
    runs, _ = load(store_dir)
    verdicts = judge(runs)
    assert {verdicts[r["run_id"]] for r in runs if r["label"] == "A"} == {"global"}
    assert {r["problem"]: verdicts[r["run_id"]] for r in runs if r["label"] == "B"} == {
        "p1": "global", "p2": "global", "p3": "unsolved"}
    assert {verdicts[r["run_id"]] for r in runs if r["label"] == "B" and r["problem"] == "p3"} == {"unsolved"}
    # at a coarser accuracy B's 5.0625 is within tau = 0.1 of the best found 5.0001
    assert {judge(runs, tau=0.1)[r["run_id"]] for r in runs if r["problem"] == "p3"} == {"global"}


def test_report_tables_and_plots(store_dir: Path) -> None:
    path = write_report(store_dir, title="Synthetic")
    text = path.read_text()
    assert path == store_dir / "report.md" and text.startswith("# Synthetic\n")
    # runs, solved, share, local, stationary, unsolved, converged; median calls over (10, 26, 6) x 2 seeds
    # weighted cost of A's runs: (5, 13, 3) x (0.5 + 1) per f and gradient pair: median 5 x 1.5 = 7.5
    assert "| A | 6 | **6** | 100% | 0 | 0 | 0 | 6 | 7.5 | 10 |" in text
    assert "| B | 6 | **4** | 67% | 0 | 0 | 2 | 4 |" in text
    assert "| p3 | 5.0001 (best found) | global · 2 · 5 | unsolved (max_iter) · 4 · 5.06 |" in text
    assert "f* is not known for 1 instance (p3)" in text
    for heading in ("## Summary", "## Per problem", "## Convergence", "## Performance profiles", "## Data profiles"):
        assert heading in text
    assert "at ratio 1 is the share" in text and "median cost" in text and "tau = 0.1, 0.001, 1e-05, 1e-07" in text
    pngs = sorted((store_dir / "plots").glob("*.png"))
    # the convergence plots are one grid (up to GRID_ROWS instances x the x axes), carrying its own legend
    assert [p.name for p in pngs] == ["convergence_1.png", "data_profiles.png", "performance_profiles.png"]
    assert "![p1, p2, p3](plots/convergence_1.png)" in text
    for png in pngs:
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and f"({png.relative_to(store_dir)})" in text


def test_plugin_sections_are_appended(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from optlab.hookspecs import hookimpl
    from optlab.registry import Registry

    class Plugin:
        @hookimpl
        def optlab_reports(self) -> dict:
            return {"extra": lambda store, outdir: f"## Extra\n\n{len(store.runs())} runs in {outdir.name}"}

    reg = Registry()
    reg.pm.register(Plugin(), name="test-reports")
    monkeypatch.setattr("optlab.experiment.report.registry", lambda: reg)
    assert write_report(store_dir).read_text().rstrip().endswith(f"## Extra\n\n12 runs in {store_dir.name}")


def test_cli(store_dir: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(store_dir), "--title", "T"]) == 0
    assert capsys.readouterr().out.strip() == str(store_dir / "report.md")
    missing = tmp_path_factory.mktemp("empty") / "nowhere"
    assert main(["report", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no results.sqlite" in err and not missing.exists()


def test_failed_runs_and_empty_store(store_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    # a run that failed in setup has no trace, no n and no counts: unsolved everywhere, still in the tables
    with Store(store_dir) as store:
        store.write({"run_id": "p1-C-0", "problem": "p1", "problem_params": {}, "label": "C", "seed": 0,
                     "scale": 1.0, "status": "error", "message": "Traceback ..."}, [])
    text = write_report(store_dir).read_text()
    assert "| C | 1 | **0** | 0% | 0 | 0 | 1 | 0 | - | - | - |" in text
    assert "| p1 | 0 | global · 4 · 1e-08 | global · 12 · 4.1e-09 | unsolved (error) · - · - |" in text
    empty = tmp_path_factory.mktemp("empty")
    Store(empty).close()
    assert main(["report", str(empty)]) == 2


def test_convergence_grid_drawn_again_on_one_figure_equals_a_fresh_figure(store_dir: Path) -> None:
    # the report draws every group of instances on one reused grid: each must be pixel for pixel a fresh one
    import io

    from optlab.experiment.report import Options, by_instance, line_styles
    from optlab.experiment.report import load as load_study
    from optlab.experiment.report_figures import convergence_grid, grid_figure

    study = load_study(store_dir, Options(axes=("iterations", "cost", "seconds")))
    styles = line_styles(["A", "B"])
    rows = [(key[0], rs, study.refs[key]) for key, rs in by_instance(study.runs).items()]
    fig = grid_figure(2, 3, styles)
    for chunk in (rows[:2], rows[1:], rows[::-2], rows[:2]):  # p3's best-found reference and its other y range
        reused, fresh = io.BytesIO(), io.BytesIO()
        convergence_grid(chunk, study, styles, fig).savefig(reused, format="rgba")
        convergence_grid(chunk, study, styles).savefig(fresh, format="rgba")
        assert reused.getvalue() == fresh.getvalue(), [name for name, _, _ in chunk]


def test_convergence_grid_draws_best_so_far_per_instance_row(store_dir: Path) -> None:
    # rows are instances (y shared along a row), columns the x axes (x shared down a column); each panel
    # holds one step line per method: seed-median best f so far - f* against the axis
    from optlab.experiment.report import FLOOR, Options, by_instance, line_styles
    from optlab.experiment.report import load as load_study
    from optlab.experiment.report_figures import convergence_grid

    study = load_study(store_dir, Options(axes=("iterations", "calls")))
    rows = [(key[0], rs, study.refs[key]) for key, rs in by_instance(study.runs).items()]
    fig = convergence_grid(rows, study, line_styles(["A", "B"]))
    grid = np.array(fig.axes).reshape(3, 2)
    assert [ax.get_title(loc="left") for ax in grid[:, 0]] == ["p1: median over 2 seeds", "p2: median over 2 seeds",
                                                              "p3: median over 2 seeds"]
    assert [ax.get_ylabel() for ax in grid[:, 0]] == ["f - f*", "f - f*", "f - best found"]
    assert [ax.get_xlabel() for ax in grid[-1]] == ["iterations", "oracle calls (f + g + Hv + H)"]
    for i in range(3):
        assert all(ax.get_shared_y_axes().joined(grid[i, 0], ax) for ax in grid[i])
        assert all(grid[0, j].get_shared_x_axes().joined(grid[0, j], grid[i, j]) for j in range(2))
    # p1, method A: f_k = 0.01^k for k = 0..4 (both seeds alike), f* = 0: the line steps down at each iterate;
    # against calls (k + 1 f and k + 1 g), x = 2, 4, ..., 10
    (line,) = [ln for ln in grid[0, 0].lines if ln.get_label() == "A"]
    np.testing.assert_allclose(line.get_xdata(), np.arange(5.0))
    np.testing.assert_allclose(line.get_ydata(), np.maximum(0.01 ** np.arange(5.0), FLOOR))
    (line,) = [ln for ln in grid[0, 1].lines if ln.get_label() == "A"]
    np.testing.assert_allclose(line.get_xdata(), 2.0 * np.arange(1, 6))
    assert {ln.get_label() for ax in grid.flat for ln in ax.lines} == {"A", "B"}
    assert all(len(ax.lines) == 2 for ax in grid.flat)


def test_report_reads_the_store_again_after_a_write_and_states_its_commit(store_dir: Path) -> None:
    assert "| A | 6 | **6** |" in write_report(store_dir).read_text()
    with Store(store_dir) as store:  # one more solved run of A: the report must not reuse the rows read before
        row = {**store.runs()[0], "run_id": "p1-A-9", "seed": 9}
        store.write(row, store.trace(store.runs()[0]["run_id"]))
    text = write_report(store_dir).read_text()
    assert "| A | 7 | **7** |" in text
    assert "Report written by optlab" in text.splitlines()[2]


def test_figures_are_drawn_again_only_when_their_inputs_change(store_dir: Path, tmp_path_factory) -> None:
    # a second report of the same store reuses plots/ (no matplotlib, same markdown); a new run, other
    # options, a changed or missing file, or --redraw draw them again
    import json
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("out")
    first = write_report(store_dir, to=out).read_text()
    manifest = json.loads((out / "plots" / "figures.json").read_text())
    assert sorted(manifest["files"]) == ["plots/convergence_1.png", "plots/data_profiles.png",
                                         "plots/performance_profiles.png"]
    stamps = {f: (out / f).stat().st_mtime_ns for f in manifest["files"]}
    code = (f"import sys\nfrom optlab.experiment.report import write_report\nwrite_report({str(store_dir)!r}, "
            f"to={str(out)!r})\nprint('matplotlib' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"  # nothing drawn, nothing of matplotlib imported
    assert (out / "report.md").read_text() == first
    assert {f: (out / f).stat().st_mtime_ns for f in manifest["files"]} == stamps

    def redrawn(**options) -> bool:
        before = (out / "plots" / "data_profiles.png").stat().st_mtime_ns
        write_report(store_dir, to=out, options=Options(**options))
        return (out / "plots" / "data_profiles.png").stat().st_mtime_ns != before

    assert not redrawn()
    assert redrawn(reuse_figures=False)
    assert redrawn(tau=1e-3) and redrawn()  # other options, then the default ones again
    (out / "plots" / "convergence_1.png").write_bytes(b"edited")
    assert redrawn()
    (out / "plots" / "performance_profiles.png").unlink()
    assert redrawn() and (out / "plots" / "performance_profiles.png").exists()
    with Store(store_dir) as store:  # one more run in the store
        row = {**store.runs()[0], "run_id": "p1-A-9", "seed": 9}
        store.write(row, store.trace(store.runs()[0]["run_id"]))
    assert redrawn() and not redrawn()


def test_plain_axes_are_the_pixels_of_matplotlibs_axes(store_dir: Path, monkeypatch) -> None:
    # every panel's axes are drawn by `plain_axis` (tick marks, gridlines, tick labels and the axis label without
    # matplotlib's Tick objects): each figure must be the one matplotlib's own axes draw, pixel for pixel, on
    # log and linear x axes, with and without gridlines, tick labels and axis labels
    import io

    from optlab.experiment import report, report_axes, report_figures
    from optlab.experiment.report import Options, by_instance, line_styles
    from optlab.experiment.report import load as load_study

    study = load_study(store_dir, Options(axes=("iterations", "cost", "seconds")))
    styles = line_styles(["A", "B"])
    rows = [(key[0], rs, study.refs[key]) for key, rs in by_instance(study.runs).items()]
    figures = {}

    class Plots(report.Plots):
        def save(self, name, make):
            figures[name] = make()
            return name

    def draw_all() -> dict[str, bytes]:
        figures.clear()
        figures["grid"] = report_figures.convergence_grid(rows, study, styles)
        for xscale in ("log", "linear"):
            study.options.xscale = xscale
            plots = Plots(store_dir, ("png",))
            report.performance_section(study, plots, styles)
            report.data_section(study, plots, styles)
            figures[f"profiles {xscale}"] = figures.pop("data_profiles")
        pixels = {}
        for name, fig in figures.items():
            buffer = io.BytesIO()
            fig.savefig(buffer, format="rgba", dpi=90)
            pixels[name] = buffer.getvalue()
        return pixels

    fast = draw_all()
    grid = np.array(figures["grid"].axes).reshape(3, 3)
    assert not any(ax.xaxis.get_visible() or ax.yaxis.get_visible() for ax in grid.flat)
    assert [len(ax.artists) for ax in grid[:, 2]] == [2, 2, 2]
    assert [[len(a.labels) > 0 for a in ax.artists] for ax in grid[:, 0]] == [[False, True], [False, True], [True, True]]
    assert any(a.grid is not None for a in figures["profiles log"].axes[0].artists)
    monkeypatch.setattr(report_figures, "plain_axis", lambda *args, **kwargs: None)
    plain = draw_all()
    assert not any(ax.artists for ax in figures["grid"].axes)
    assert fast.keys() == plain.keys() and all(fast[k] == plain[k] for k in fast), [k for k in fast if fast[k] != plain[k]]


def test_drawn_ticks_are_matplotlibs(store_dir: Path) -> None:
    # the tick locations and labels plain_axis draws are the ones matplotlib's axis draws (within the view,
    # formatted from every location the locator gives), on log and linear scales
    from matplotlib.figure import Figure

    from optlab.experiment.report_axes import drawn_ticks
    from optlab.experiment.report_figures import tidy

    for scale, limits in (("log", (3e-17, 2e4)), ("linear", (0.0, 1.02)), ("linear", (-3.7, 1234.5))):
        fig = Figure()
        ax = fig.subplots()
        ax.set(xscale=scale, xlim=limits)
        tidy(ax)
        ticks = ax.xaxis._update_ticks()
        locs, labels = drawn_ticks(ax.xaxis)
        np.testing.assert_array_equal(locs, [t.get_loc() for t in ticks])
        assert labels == [t.label1.get_text() for t in ticks] and len(labels) >= 3


def test_a_report_imports_no_pydantic_autodiff_or_optimizer_plugin(store_dir: Path) -> None:
    # the report reads the cost model, the judge's tolerance, determinism (from the catalogue) and the plugin
    # sections without the run library: A is newton's runs, B scipy.trust-krylov's, whose cells get a dagger
    import sqlite3
    import subprocess
    import sys

    with sqlite3.connect(store_dir / "results.sqlite") as db:
        db.execute("UPDATE runs SET optimizer = CASE label WHEN 'A' THEN 'newton' ELSE 'scipy.trust-krylov' END")
    code = (f"import sys\nfrom optlab.cli import main\nassert main(['report', {str(store_dir)!r}, '--redraw']) == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'scipy', 'optlab_studies') or "
            "m.startswith(('optlab.autodiff', 'optlab.optim.stopping', 'optlab_plugins.newton', "
            "'optlab_plugins.scipy'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert "| problem | reference | A | B † |" in (store_dir / "report.md").read_text()


def test_the_legends_tell_methods_apart_and_their_entries_do_not_overlap() -> None:
    # `Key` replaces matplotlib's Legend: every method's entry carries its colour, line style and marker (no two
    # methods alike), in columns (grids) or one column (profiles), inside the figure, no two entries overlapping
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgba
    from matplotlib.figure import Figure
    from matplotlib.transforms import Bbox

    from optlab.experiment.report import line_styles
    from optlab.experiment.report_axes import Key
    from optlab.experiment.report_figures import grid_figure

    labels = ["gd", "lbfgs", "newton", "newton-cg", "scipy.bfgs", "scipy.cg", "scipy.l-bfgs-b", "scipy.newton-cg",
              "scipy.trust-exact", "scipy.trust-krylov", "scipy.trust-ncg", "trust-ncg"]
    styles = line_styles(labels)
    assert len({(s["color"], s["linestyle"], s["marker"]) for s in styles.values()}) == len(labels)
    profile = Figure(figsize=(8, 4))
    FigureCanvasAgg(profile)
    profile.add_artist(Key(profile, list(styles.items()), "upper right"))
    for fig, columns in ((grid_figure(4, 3, styles), 6), (profile, 1)):
        (key,) = [a for a in fig.get_children() if isinstance(a, Key)]
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)  # the Key lays its entries out when drawn
        assert [t.get_text() for t in key.texts] == labels
        for handle, style in zip(key.handles, styles.values()):
            assert to_rgba(handle.get_color()) == to_rgba(style["color"])
            assert (handle.get_linestyle(), handle.get_marker()) == (style["linestyle"], style["marker"])
        boxes = [Bbox.union([h.get_window_extent(renderer), t.get_window_extent(renderer)])
                 for h, t in zip(key.handles, key.texts)]
        assert all(fig.bbox.contains(b.x0, b.y0) and fig.bbox.contains(b.x1, b.y1) for b in boxes)
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
        assert len({round(b.x0) for b in boxes}) == columns
