"""Graph pictures: the computational graph behind a Variable as Graphviz dot text or an image.

Drawing the graph of a gradient shows how much work each derivative order adds (DeZero style:
variables are orange ellipses, functions light-blue boxes, raw constants small grey notes).
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from typing import Any

import numpy as np

from .node import Edge, Function, Variable

FORMATS = ("png", "svg", "pdf")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _var_node(v: Variable, verbose: bool) -> str:
    label = "" if v.name is None else v.name
    if verbose:
        label += (": " if v.name is not None else "") + f"{v.shape} {v.dtype}"
    return f"{id(v)} [label={_quote(label)}, color=orange, style=filled]"


def _const_label(c: Any) -> str:
    return str(c) if np.ndim(c) == 0 else f"array{np.shape(c)}"


def to_dot(y: Variable, verbose: bool = False) -> str:
    """Graphviz dot text of the graph that produced `y`, each node once, walked without recursion.

    With `verbose` variables also show shape and dtype. Edges run input -> function -> output.
    """
    lines = ["digraph g {", _var_node(y, verbose)]
    seen: set[int] = {id(y)}
    stack: list[Function] = []

    def visit(f: Function | None) -> None:
        if f is not None and id(f) not in seen:
            seen.add(id(f))
            stack.append(f)

    visit(y.creator)
    while stack:
        f = stack.pop()
        lines.append(f"{id(f)} [label={_quote(type(f).__name__)}, color=lightblue, style=filled, shape=box]")
        out = f.output()
        if out is not None:
            lines.append(f"{id(f)} -> {id(out)}")
        for i, x in enumerate(f.inputs or ()):
            if isinstance(x, Edge):  # the way back to a value f does not read
                if x.creator.output() is None:  # that value is gone: draw its creator feeding f
                    visit(x.creator)
                    lines.append(f"{id(x.creator)} -> {id(f)}")
                    continue
                x = x.creator.output()
            if isinstance(x, Variable):
                if id(x) not in seen:
                    seen.add(id(x))
                    lines.append(_var_node(x, verbose))
                    visit(x.creator)
                lines.append(f"{id(x)} -> {id(f)}")
            elif x is not None:
                node = f"c{id(f)}_{i}"
                lines.append(f"{node} [label={_quote(_const_label(x))}, color=gray, fontcolor=gray40, "
                             "shape=note, fontsize=8, height=0.2]")
                lines.append(f"{node} -> {id(f)} [color=gray]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def plot_graph(y: Variable, path: str = "graph.png", verbose: bool = False) -> str:
    """Write the graph of `y` as a .dot file next to `path` and render it there with Graphviz.

    The format comes from the extension (png, svg, pdf). Without `dot` on PATH the .dot file is
    kept, one line says how to install Graphviz or render by hand, and the .dot path is returned.
    """
    stem, ext = os.path.splitext(path)
    fmt = ext.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"plot_graph: cannot tell the image format from {path!r}; use .png, .svg or .pdf")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    dot_path = stem + ".dot"
    with open(dot_path, "w", encoding="utf-8") as fh:
        fh.write(to_dot(y, verbose))
    dot = shutil.which("dot")
    if dot is None:
        print(f"Graphviz 'dot' not found on PATH: wrote {dot_path}; install it (apt-get install graphviz "
              f"or brew install graphviz) or render by hand: dot -T{fmt} {shlex.quote(dot_path)} "
              f"-o {shlex.quote(path)}", file=sys.stderr)
        return dot_path
    done = subprocess.run([dot, f"-T{fmt}", dot_path, "-o", path], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"plot_graph: dot failed on {dot_path}: {done.stderr.strip()}")
    return path
