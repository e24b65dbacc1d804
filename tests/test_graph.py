"""Graph pictures: dot text, rendering with and without Graphviz, and `optlab graph`."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

import optlab.autodiff.functions as F
from optlab.autodiff import Variable, plot_graph, to_dot
from optlab.cli import main

has_dot = shutil.which("dot") is not None


def count(dot: str) -> tuple[int, int, int]:
    """(function nodes, variable nodes, edges between them) in dot text from `to_dot`."""
    lines = dot.splitlines()
    funcs = sum("shape=box" in ln for ln in lines)
    variables = sum("color=orange" in ln for ln in lines)
    edges = sum("->" in ln and "color=gray" not in ln for ln in lines)
    return funcs, variables, edges


def test_sin_times_x_has_each_node_once():
    x = Variable(np.array(1.0), name="x")
    y = F.sin(x) * x
    y.name = "y"
    dot = to_dot(y)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert count(dot) == (2, 3, 5)  # x -> sin -> t, t -> mul, x -> mul, mul -> y
    for label in ('label="x"', 'label="y"', 'label="sin"', 'label="mul"'):
        assert label in dot


def test_verbose_adds_shape_and_dtype():
    x = Variable(np.ones((2, 3), dtype=np.float32), name="x")
    y = F.exp(x)
    assert "(2, 3)" not in to_dot(y)
    dot = to_dot(y, verbose=True)
    assert 'label="x: (2, 3) float32"' in dot
    assert 'label="(2, 3) float32"' in dot  # unnamed output


def test_constants_are_small_grey_nodes():
    x = Variable(np.array(2.0), name="x")
    dot = to_dot(1.0 - x)
    assert 'label="1.0"' in dot and "color=gray" in dot
    assert count(dot) == (1, 2, 2)


def test_long_chain_needs_no_recursion():
    x = Variable(np.array(0.5))
    y = x
    for _ in range(5000):
        y = F.sin(y)
    assert count(to_dot(y)) == (5000, 5001, 10000)


@pytest.mark.skipif(not has_dot, reason="Graphviz dot not installed")
def test_plot_graph_renders_png(tmp_path):
    x = Variable(np.array(1.0), name="x")
    out = tmp_path / "g.png"
    assert plot_graph(F.tanh(x), str(out)) == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


def test_plot_graph_without_graphviz_writes_dot_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    x = Variable(np.array(1.0), name="x")
    out = tmp_path / "g.png"
    assert plot_graph(F.tanh(x), str(out)) == str(tmp_path / "g.dot")
    assert not out.exists() and (tmp_path / "g.dot").read_text().startswith("digraph")
    captured = capsys.readouterr()
    message = (captured.out + captured.err).strip()
    assert len(message.splitlines()) == 1
    for part in ("Graphviz", "apt-get install graphviz", "brew install graphviz", "dot -Tpng"):
        assert part in message


def test_plot_graph_rejects_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match=r"\.png"):
        plot_graph(F.tanh(Variable(np.array(1.0))), str(tmp_path / "g.gif"))


def test_cli_graph_writes_the_picture(tmp_path, capsys):
    out = tmp_path / "tmp" / "x.png"
    assert main(["graph", "--func", "tanh", "--order", "2", "-o", str(out)]) == 0
    assert (out if has_dot else tmp_path / "tmp" / "x.dot").exists()
    assert 'label="y\'\'"' in (tmp_path / "tmp" / "x.dot").read_text()


def test_cli_graph_grows_with_order(tmp_path, capsys):
    funcs = []
    for order in range(4):
        out = tmp_path / f"tanh{order}.svg"
        assert main(["graph", "--func", "tanh", "--order", str(order), "-o", str(out)]) == 0
        funcs.append(count((tmp_path / f"tanh{order}.dot").read_text())[0])
    assert funcs[0] == 1
    assert funcs == sorted(set(funcs)), funcs  # strictly increasing


def test_cli_graph_derivative_that_no_longer_depends_on_x(tmp_path, capsys):
    assert main(["graph", "--func", "relu", "--order", "2", "-o", str(tmp_path / "r.svg")]) == 0


def test_cli_graph_unknown_function(capsys):
    assert main(["graph", "--func", "nope"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "nope" in err and "tanh" in err and "sigmoid" in err


def test_graph_is_registered_when_cli_module_runs(tmp_path):
    done = subprocess.run([sys.executable, "-m", "optlab.cli", "graph", "--func", "sin", "--order", "1",
                           "-o", str(tmp_path / "s.svg")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "s.dot").exists()
