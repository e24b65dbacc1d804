"""jit(fn): trace fn once per tree of input shapes and dtypes, then replay the recorded primitive calls
as one generated straight-line numpy function (no graph, no Variables, no backprop bookkeeping).

Tracing runs fn on Variables made outside every transform, so each transform inside fn records its
derivative's graph too: every value fn computes from its inputs, forward or backward pass, passes through
the kernel's one recording routine (`node.recorder`), which tells the tracer (forward, arguments, output).
Decisions taken from values outside that routine (a relu or clip mask, max ties, sort order, `x.data` in
a Python `if`, comparisons) are guards: the value they read is checked, bit for bit, at every replay, and
a call whose guards fail is traced afresh (after `max_retraces` such calls its shapes run eagerly).

Small float64 values (0-d, vectors of at most `_SMALL` elements) are computed in Python floats, one local
per element (`_Elements`): the same IEEE 754 operations on the same values in the same order (sums in
numpy's pairwise order), so the bits are eager's. Two documented exceptions, there and in the folded
negations (`_signs`): a NaN's sign bit (which operand an instruction reads first decides it; NaN stays
NaN, in the same places), and numpy's floating-point warnings and `np.seterr` errors, which Python floats
do not raise.
"""
from __future__ import annotations

import operator
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from . import backprop, functional, node
from . import functions as F
from .config import level_base, transform_level
from .node import Variable, as_data, made_outside
from .tree import flatten, unflatten

_DATA_SLOT = Variable.__dict__["data"]  # the slot behind Variable.data (a property while tracing)
_CALLER_GRADS = backprop._caller_grads
_BACKPROP = backprop._backprop
_COMPARISONS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__")
_VALUE_FREE = {np.shape, np.ndim, np.size, np.result_type, np.zeros_like, np.ones_like, np.empty_like}
_BIG = 1 << 10  # temporaries of at least this many elements (8 kB of float64) are deleted after their last use


class JitError(TypeError):
    """fn runs eagerly but cannot be traced (it calls numpy on values the kernel cannot see)."""


class _Stale(Exception):
    """A guard failed: a value a decision was taken from differs from the trace's."""


class _Miss(Exception):
    """A program's entry was called with arguments of another structure, shape or dtype than its trace's."""


class _Watched(np.ndarray):
    """A traced array handed to code outside the recorder (`F._data`, a relu or clip mask being made):
    numpy calls on it are recorded too, so masks, ties and orders become values of the program; a value
    that leaves for Python (bool, float, item, tolist, an unrecorded call) guards the slot it holds."""

    _slot: int | None = None  # the program value this array is (None: only derived from `_origin`)
    _origin: int | None = None

    def __array_finalize__(self, obj: Any) -> None:  # a view or result made by numpy itself: derived
        self._slot = None
        slot = getattr(obj, "_slot", None)
        self._origin = slot if slot is not None else getattr(obj, "_origin", None)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        for x in (*inputs, *kwargs.get("out", ())):
            if isinstance(x, Variable):  # x.data * y: Variable.__array_ufunc__ runs y's F twin, recorded
                return NotImplemented
        if method == "__call__" and "out" not in kwargs:
            return _TRACE.call(ufunc, inputs, kwargs)
        if method == "reduce" and "out" not in kwargs:
            return _TRACE.call(ufunc.reduce, inputs, kwargs)
        _TRACE.mark_all(inputs)
        if "out" in kwargs:
            _TRACE.mark_all(kwargs["out"])
            kwargs["out"] = tuple(_plain(o) for o in kwargs["out"])
        return getattr(ufunc, method)(*[_plain(x) for x in inputs], **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in _VALUE_FREE:
            return func(*_plain_tree(args), **_plain_tree(kwargs))
        return _TRACE.call(func, args, kwargs)

    def _recorded(name: str) -> Callable:  # type: ignore[misc]
        method = getattr(np.ndarray, name)
        return lambda self, *args, **kwargs: _TRACE.call(method, (self, *args), kwargs)

    def _read(name: str) -> Callable:  # type: ignore[misc]
        def method(self: _Watched, *args: Any, **kwargs: Any) -> Any:
            _TRACE.mark(self)
            return getattr(_plain(self), name)(*args, **kwargs)
        return method

    for _name in ("__getitem__", "astype", "reshape", "transpose", "ravel", "copy", "sum", "any", "all", "max",
                  "min", "argmax", "argmin", "argsort", "nonzero", "clip", "mean", "prod", "cumsum", "dot"):
        locals()[_name] = _recorded(_name)
    for _name in ("__bool__", "__float__", "__int__", "__index__", "__complex__", "item", "tolist", "tobytes",
                  "__iter__", "__array__", "__reduce__", "__reduce_ex__", "__deepcopy__", "__setitem__", "fill",
                  "sort"):
        locals()[_name] = _read(_name)
    del _name, _read, _recorded


def _plain(x: Any) -> Any:
    return np.ndarray.view(x, np.ndarray) if isinstance(x, _Watched) else x


def _plain_tree(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return type(x)(_plain_tree(v) for v in x)
    if isinstance(x, dict):
        return {k: _plain_tree(v) for k, v in x.items()}
    return _plain(x)


def _watch(x: np.ndarray, slot: int) -> _Watched:
    w = np.ndarray.view(x, _Watched)
    w._slot = slot
    return w


class _Recording:
    """One trace: traced arrays by id (slots), the recorded calls and the slots decisions were read from."""

    def __init__(self) -> None:
        self.slots: dict[int, int] = {}
        self.values: list[np.ndarray] = []  # slot -> its trace-time array (keeps ids unique while tracing)
        self.calls: list[tuple] = []  # (out slot, forward, args, kwargs, wrap)
        self.guards: set[int] = set()

    def new_slot(self, a: np.ndarray) -> int:
        s = len(self.values)
        self.values.append(a)
        self.slots[id(a)] = s
        return s

    def ref(self, a: Any) -> Any:
        """An argument as ("slot", s) when it is a traced array (or a Variable or _Watched holding one),
        ("seq", type, refs) for a tuple or list of them, else ("const", a)."""
        if isinstance(a, Variable):
            a = _DATA_SLOT.__get__(a, Variable)
        if isinstance(a, _Watched):
            if a._slot is not None:
                return ("slot", a._slot)
            self.mark(a)  # derived by an unrecorded view: a constant only while its origin is unchanged
            return ("const", _plain(a))
        if a.__class__ in (tuple, list):
            refs = [self.ref(x) for x in a]
            return ("seq", a.__class__, refs) if any(r[0] != "const" for r in refs) else ("const", a)
        s = self.slots.get(id(a))
        return ("const", a) if s is None else ("slot", s)

    def record(self, forward: Callable, args: tuple, kwargs: dict, y: Any, out: Variable | None) -> Any:
        """The recorder's report of one call; a bare one (out None) runs here, recorded if it reads a
        traced array."""
        refs = [self.ref(a) for a in args]
        kw = {k: self.ref(v) for k, v in kwargs.items()}
        if out is None:
            if all(r[0] == "const" for r in [*refs, *kw.values()]):
                return forward(*args, **kwargs)
            return self.call(forward, args, kwargs, refs, kw)
        self.calls.append((self.new_slot(_DATA_SLOT.__get__(out, Variable)), forward, refs, kw,
                           y.__class__ is not np.ndarray))

    def call(self, func: Callable, args: Any, kwargs: dict, refs: list | None = None, kw: dict | None = None) -> Any:
        """func on traced arrays outside the graph (a mask, a tie, an order, a bare VJP step): recorded
        as a program value, returned as a _Watched so what is made of it is followed too."""
        if refs is None:
            refs = [self.ref(a) for a in args]
            kw = {k: self.ref(v) for k, v in kwargs.items()}
        y = func(*_plain_tree(args), **_plain_tree(kwargs))
        if not isinstance(y, (np.ndarray, np.generic)):  # a tuple (nonzero) or a Python value: guarded
            self.mark_all(args)
            self.mark_all(list(kwargs.values()))
            return y
        wrap = y.__class__ is not np.ndarray
        y = np.asarray(y)
        slot = self.new_slot(y)
        self.calls.append((slot, func, refs, kw, wrap))
        return _watch(y, slot)

    def mark(self, x: Any) -> None:
        """A decision reads x: guard the traced value it is (or came from), if any."""
        if isinstance(x, Variable):
            x = _DATA_SLOT.__get__(x, Variable)
        if isinstance(x, _Watched):
            s = x._slot if x._slot is not None else x._origin
        else:
            s = self.slots.get(id(x)) if isinstance(x, np.ndarray) else None
        if s is not None:
            self.guards.add(s)

    def mark_all(self, xs: Any) -> None:
        for x in xs:
            if isinstance(x, (list, tuple)):
                self.mark_all(x)
            else:
                self.mark(x)


class _NoTrace:
    """Outside a trace: a _Watched kept past it computes plainly."""

    def call(self, func: Callable, args: Any, kwargs: dict) -> Any:
        return func(*_plain_tree(args), **_plain_tree(kwargs))

    def mark(self, x: Any) -> None:
        pass

    def mark_all(self, xs: Any) -> None:
        pass


_TRACE: Any = _NoTrace()


class _tracing:
    """Hook the kernel for one trace: the recorder's `_tracer`, and the reads that take decisions
    (`F._data`, `Variable.data` outside the kernel, comparisons, `F.where`'s condition, labels)."""

    def __init__(self, rec: _Recording) -> None:
        self.rec = rec

    def __enter__(self) -> None:
        global _TRACE
        if node._tracer is not None or backprop._caller_grads is not _CALLER_GRADS:
            raise JitError("jit: a jitted function was called while another is being traced; "
                           "jit the outermost function only")
        rec = self.rec
        _TRACE = rec
        node._tracer = rec.record
        self.saved = {"_data": F._data, "where": F.where, "softmax_cross_entropy": F.softmax_cross_entropy}
        self.comparisons = {n: Variable.__dict__[n] for n in _COMPARISONS}

        def data(x: Any) -> Any:
            if isinstance(x, Variable):
                d = _DATA_SLOT.__get__(x, Variable)
                slot = rec.slots.get(id(d))
                return d if slot is None else _watch(d, slot)
            return x

        def where(condition: Any, a: Any, b: Any, _where: Callable = F.where) -> Any:
            if isinstance(condition, _Watched):  # a mask made in the program: stays a program value
                return F._where(condition if condition.dtype == bool else condition.astype(bool), a, b)
            rec.mark(condition)
            return _where(condition, a, b)

        def cross_entropy(x: Any, t: Any, _ce: Callable = F.softmax_cross_entropy) -> Any:
            rec.mark(t)
            return _ce(x, t)

        F._data, F.where, F.softmax_cross_entropy = data, where, cross_entropy

        def caller_grads(grads: Any, seed: Any, _caller: Callable = backprop._caller_grads) -> list:
            # a gradient made of bare traced steps (a relu mask times the seed) stays a program value:
            # the kernel's copy (np.array) would drop it from the program
            out = [g if not isinstance(g, _Watched) else None for g in grads]
            plain = _caller([g for g in out], seed)
            for i, g in enumerate(grads):
                if isinstance(g, _Watched):
                    v = node._new_variable(g)
                    v.generation = level_base()
                    plain[i] = v
            return plain

        backprop._caller_grads = functional._caller_grads = caller_grads

        def backprop_pass(y: Variable, seed: Any, create_graph: bool, *args: Any, **kwargs: Any) -> Any:
            # A pass without create_graph (gradients(..., create_graph=False), backward()) runs its VJPs on
            # bare arrays, with numpy's operators (g * b): those steps reach no recorder, so a replay would
            # repeat the trace's gradient (FOMAML's inner step). Refused where the graph reads fn's inputs.
            d = _DATA_SLOT.__get__(y, Variable)
            if not create_graph and (isinstance(d, _Watched) or id(d) in rec.slots):
                raise JitError("jit: a backward pass without create_graph on values of the jitted function's "
                               "inputs (gradients(..., create_graph=False) or backward()): its steps on bare "
                               "arrays are not recorded; use create_graph=True, or call it outside jit")
            return _BACKPROP(y, seed, create_graph, *args, **kwargs)

        backprop._backprop = backprop_pass
        for n, cmp in self.comparisons.items():
            setattr(Variable, n, _guarded_comparison(cmp))

        def get(v: Variable) -> Any:
            d = _DATA_SLOT.__get__(v, Variable)
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if (isinstance(d, _Watched) or id(d) in rec.slots) and not caller.startswith("optlab.autodiff"):
                rec.mark(d)  # fn reads a traced value itself: whatever it decides from it is guarded
            return d

        setattr(Variable, "data", property(get, _DATA_SLOT.__set__))  # noqa: B010 (mypy: a slot)

    def __exit__(self, *exc: object) -> None:
        global _TRACE
        setattr(Variable, "data", _DATA_SLOT)  # noqa: B010
        for n, cmp in self.comparisons.items():
            setattr(Variable, n, cmp)
        for k, v in self.saved.items():
            setattr(F, k, v)
        backprop._caller_grads = functional._caller_grads = _CALLER_GRADS
        backprop._backprop = _BACKPROP
        node._tracer = None
        _TRACE = _NoTrace()


def _guarded_comparison(cmp: Callable) -> Callable:
    def compare(self: Variable, other: Any) -> Any:
        _TRACE.mark(self)
        _TRACE.mark(other)
        return cmp(self, other)
    return compare


_OPERATORS = {np.add: "{0} + {1}", np.subtract: "{0} - {1}", np.multiply: "{0} * {1}", np.true_divide: "{0} / {1}",
              np.negative: "-{0}", operator.pow: "{0} ** {1}"}
_IN_PLACE = {np.add: "+=", np.subtract: "-=", np.multiply: "*=", np.true_divide: "/="}
_OPERANDS = (float, int, np.ndarray, np.generic)


class _Context:
    """What the generator knows of the program while writing one statement: how often each slot is read
    (outputs and guards count) and which slots hold a buffer made in the program itself."""

    def __init__(self, rec: _Recording, uses: dict[int, int], arg: Callable) -> None:
        self.rec, self.uses, self.arg = rec, uses, arg
        self.fresh: set[int] = set()
        self.kept: set[int] = set()  # outputs and guarded slots: their values keep the recorder's types

    def owned(self, r: tuple, s: int) -> bool:
        """r is a buffer of s's dtype made here, read only by s's statement: s may take it over in place."""
        return (r[0] == "slot" and r[1] in self.fresh and self.uses.get(r[1], 0) == 1 and self.rec.values[r[1]].ndim
                and self.rec.values[r[1]].dtype == self.rec.values[s].dtype)

    def as_eager(self, r: tuple) -> str:
        """The argument as eager code sees it: a 0-d value (a numpy scalar in the program, where the
        operations on it give the same bits) as the 0-d array the recorder makes of it, for code whose
        result depends on the type: `0-d array ** 2` is np.square, `np.float64 ** 2` libm's pow, which
        differ in the last bit for some x."""
        if r[0] == "slot" and self.rec.values[r[1]].ndim == 0:
            return f"_asarray({self.arg(r)})"
        if r[0] == "seq":
            items = ", ".join(self.as_eager(x) for x in r[2])
            return f"({items},)" if r[1] is tuple else f"[{items}]"
        return str(self.arg(r))

    def operand(self, r: tuple, s: int) -> str:
        """An arithmetic operand; a number (Python or numpy scalar) beside an array of s's float dtype as
        the 0-d array of that dtype it converts to (exactly, else as is): the same loop on the same
        values, without numpy converting the scalar at every call (a third of a 3-element multiply)."""
        y = self.rec.values[s]
        if r[0] == "const" and isinstance(r[1], (float, int, np.generic)) and not isinstance(r[1], bool) \
                and y.ndim and y.dtype.kind == "f" and np.result_type(r[1]).kind in "iuf":
            c = np.array(r[1], dtype=y.dtype)
            if c == r[1] and (not isinstance(r[1], np.generic) or r[1].dtype == y.dtype):
                return str(self.arg(("const", c)))
        return str(self.arg(r))

    def reusable(self, r: tuple, s: int, reads: int = 1) -> bool:
        """r is a large buffer made here and read only by s's statement (`reads` times: t + t), of s's
        shape and dtype: s's ufunc may write its result into it (the same loop, no fresh pages)."""
        return (r[0] == "slot" and r[1] in self.fresh and self.uses.get(r[1], 0) == reads
                and self.rec.values[r[1]].dtype == self.rec.values[s].dtype
                and self.rec.values[r[1]].shape == self.rec.values[s].shape and self.rec.values[s].size >= _BIG)


def _inline(s: int, forward: Callable, refs: list, kw: dict, wrap: bool, ctx: _Context) -> list[str] | None:
    """The source of the hot kernel forwards written out (the same numpy operations, without a Python
    frame or a ufunc's keyword parsing): identity, getitem, sum, the arithmetic ufuncs as operators
    (numpy's own operator dispatch: the same ufunc loop, bit for bit), and getitem's gradient steps at a
    basic (static) index, accumulating in place into a buffer the program made and reads nowhere else."""
    arg, rec = ctx.arg, ctx.rec
    index = kw.get("index")
    basic = index is not None and index[0] == "const" and F._is_basic_index(index[1])
    if forward is _IDENTITY and len(refs) == 1 and not kw:
        return [f"    t{s} = {arg(refs[0])}"]
    if forward is _GETITEM and len(refs) == 1 and set(kw) == {"index"}:
        return [f"    t{s} = {arg(refs[0])}[{arg(index)}]"]
    template = _OPERATORS.get(forward)
    if (template is not None and not kw and len(refs) == template.count("{")
            and all(r[0] == "slot" or (r[0] == "const" and isinstance(r[1], _OPERANDS)) for r in refs)
            and any(r[0] == "slot" for r in refs)):
        if forward is operator.pow:
            return [f"    t{s} = {ctx.as_eager(refs[0])} ** {ctx.as_eager(refs[1])}"]
        if not wrap:
            ctx.fresh.add(s)  # a ufunc's array result: a buffer of its own
            if forward is np.negative and ctx.reusable(refs[0], s):
                return [f"    t{s} = _negative({arg(refs[0])}, out={arg(refs[0])})"]
            twice = len(refs) == 2 and refs[0] == refs[1]  # t + t: both reads are this statement's
            if forward in _IN_PLACE and ctx.reusable(refs[0], s, 2 if twice else 1):
                return [f"    t{s} = {arg(refs[0])}", f"    t{s} {_IN_PLACE[forward]} {ctx.operand(refs[1], s)}"]
            if forward in (np.add, np.multiply) and ctx.reusable(refs[1], s):  # a + b is b + a, bit for bit
                return [f"    t{s} = {arg(refs[1])}", f"    t{s} {_IN_PLACE[forward]} {ctx.operand(refs[0], s)}"]
            if forward in (np.subtract, np.true_divide) and ctx.reusable(refs[1], s):
                a, b = ctx.operand(refs[0], s), arg(refs[1])
                return [f"    t{s} = {arg(('const', forward))}({a}, {b}, out={b})"]
        return [f"    t{s} = " + template.format(*[ctx.operand(r, s) if not wrap else arg(r) for r in refs])]
    if forward is _SUM and len(refs) == 1 and set(kw) <= {"axis", "keepdims"}:
        axis = arg(kw["axis"]) if "axis" in kw else "None"  # np.sum's default, not add.reduce's 0
        keepdims = arg(kw["keepdims"]) if "keepdims" in kw else "False"
        if refs[0][0] == "slot" and rec.values[refs[0][1]].ndim == 0 and axis == "None" and keepdims == "False":
            return [f"    t{s} = {arg(refs[0])}"]  # a 0-d sum adds nothing: the value itself (-0.0 and nan kept)
        return [f"    t{s} = _add_reduce({arg(refs[0])}, axis={axis}, keepdims={keepdims})"]
    if forward is _RESHAPE and len(refs) == 1 and refs[0][0] == "slot" and set(kw) == {"shape"}:
        return [f"    t{s} = {arg(refs[0])}.reshape({arg(kw['shape'])})"]  # what np.reshape calls
    if forward in (_RESHAPE, _BROADCAST_TO) and len(refs) == 1 and set(kw) == {"shape"}:
        call = "_reshape" if forward is _RESHAPE else "_broadcast_to"  # the numpy call the forward makes
        return [f"    t{s} = {call}({arg(refs[0])}, {arg(kw['shape'])})"]
    if forward is _SUM_TO and len(refs) == 1 and refs[0][0] == "slot" and set(kw) == {"shape"} \
            and kw["shape"][0] == "const":
        x, shape = rec.values[refs[0][1]], kw["shape"][1]  # _numpy_sum_to's axes, found once
        lead = x.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and x.shape[i + lead] != 1)
        if axes == tuple(range(lead)) and shape:  # leading axes only (a bias's gradient): the reduction's own
            ctx.fresh.add(s)
            return [f"    t{s} = _add_reduce({arg(refs[0])}, axis={axes!r})"]  # shape, no keepdims and reshape
        if x.ndim == 1 and not shape and s not in ctx.kept:  # a vector's total (a broadcast scalar's gradient):
            return [f"    t{s} = _add_reduce({arg(refs[0])})"]  # the same reduction, as the numpy scalar it gives
        if not lead:  # keepdims gives the shape itself
            ctx.fresh.add(s)
            return [f"    t{s} = _add_reduce({arg(refs[0])}, axis={axes!r}, keepdims=True)"]
        return [f"    t{s} = _add_reduce({arg(refs[0])}, axis={axes!r}, keepdims=True).reshape({arg(kw['shape'])})"]
    transposed = _MATMULS.get(forward) if not kw and len(refs) == 2 else None
    if transposed is not None and all(r[0] == "slot" or (r[0] == "const" and isinstance(r[1], np.ndarray)
                                                         and r[1].ndim >= 2) for r in refs):
        if not wrap:
            ctx.fresh.add(s)

        def operand(r: tuple, t: bool) -> str:  # the view the forward's np.swapaxes makes (once, of a constant)
            if not t:
                return str(arg(r))
            if r[0] == "const":
                return str(arg(("const", np.swapaxes(r[1], -1, -2))))
            return f"{arg(r)}.T" if rec.values[r[1]].ndim == 2 else f"_swapaxes({arg(r)}, -1, -2)"
        return [f"    t{s} = _matmul({operand(refs[0], transposed[0])}, {operand(refs[1], transposed[1])})"]
    dtype = rec.values[s].dtype
    if forward is _INDEX_ADD and basic and len(refs) == 2 and set(kw) == {"index"}:
        ctx.fresh.add(s)
        if ctx.owned(refs[0], s):
            return [f"    t{s} = {arg(refs[0])}", f"    t{s}[{arg(index)}] += {arg(refs[1])}"]
        return [f"    t{s} = _array({arg(refs[0])}, dtype={arg(('const', dtype))})",
                f"    t{s}[{arg(index)}] += {arg(refs[1])}"]
    if forward is _SCATTER_ADD and basic and len(refs) == 1 and set(kw) == {"index", "shape"}:
        ctx.fresh.add(s)
        assert index is not None  # (`basic` above: a static index)
        shape, where = kw["shape"][1], index[1]
        if kw["shape"][0] == "const" and where.__class__ is slice and where.step in (None, 1) and shape:
            start, stop, _ = where.indices(shape[0])  # zeros only around the slice, as F._scatter_add
            stop = max(start, stop)
            return [f"    t{s} = _empty({arg(kw['shape'])}, dtype={arg(('const', dtype))})",
                    f"    t{s}[:{start}] = 0.0", f"    t{s}[{start}:{stop}] = {arg(refs[0])}",
                    f"    t{s}[{stop}:] = 0.0"]
        return [f"    t{s} = _zeros({arg(kw['shape'])}, dtype={arg(('const', dtype))})",
                f"    t{s}[{arg(index)}] = {arg(refs[0])}"]
    if forward is _scatter_many:
        ctx.fresh.add(s)
        (gs, indices, shape), y = (refs, kw["indices"][1], kw["shape"][1]), rec.values[s]
        every = np.zeros(y.shape, bool)
        for ix in indices:
            every[ix] = True
        lines = [f"    t{s} = {'_empty' if every.all() else '_zeros'}({arg(('const', shape))}, "
                 f"dtype={arg(('const', y.dtype))})"]
        lines += [f"    t{s}[{arg(('const', ix))}] = {arg(g)}" for g, ix in zip(gs[1:], indices[1:])]
        lines.append(f"    t{s} += {arg(('const', np.zeros((), y.dtype)))}")  # -0.0 made +0.0, as zeros + g
        return [*lines, f"    t{s}[{arg(('const', indices[0]))}] = {arg(gs[0])}"]
    if isinstance(forward, np.ufunc) and forward.signature is None and forward.nout == 1 and not kw and not wrap \
            and len(refs) == forward.nin and all(r[0] in ("slot", "const") for r in refs):
        ctx.fresh.add(s)  # an elementwise ufunc (tanh, exp): its result is a buffer of its own, and it may
        for r in refs:  # write into an operand's buffer that dies here (the same loop, bit for bit)
            if r[0] == "slot" and ctx.reusable(r, s, sum(q[0] == "slot" and q[1] == r[1] for q in refs)):
                return [f"    t{s} = {arg(('const', forward))}({', '.join(arg(q) for q in refs)}, out={arg(r)})"]
    return None


def _forward(primitive: Any) -> Callable:
    return primitive.Function.forward


_IDENTITY = _forward(functional.identity)
_GETITEM = _forward(F.getitem)
_SUM = _forward(F.sum)
_SUM_TO = F._numpy_sum_to
_RESHAPE = _forward(F._reshape)
_BROADCAST_TO = _forward(F._broadcast_to)
_INDEX_ADD = _forward(F._index_add)
_MATMULS = {np.matmul: (False, False), _forward(F._matmul_nt): (False, True), _forward(F._matmul_tn): (True, False)}
_SCATTER_ADD = _forward(F._getitem_grad)


def _renamed(r: tuple, canon: dict[int, int]) -> tuple:
    """A reference with every slot replaced by its canonical one (slots dropped as repeats or rewrites)."""
    if r[0] == "slot":
        return ("slot", canon.get(r[1], r[1]))
    if r[0] == "seq":
        return ("seq", r[1], [_renamed(x, canon) for x in r[2]])
    return r


def _const_key(v: Any) -> Any:
    """A constant's identity for common subexpressions: by value for numbers, strings, slices and tuples
    of them (an index written twice, `x[0::2]`, is one constant; slices are unhashable before Python
    3.12), by object otherwise (arrays)."""
    if v.__class__ is slice:
        return ("slice", _const_key(v.start), _const_key(v.stop), _const_key(v.step))
    if v.__class__ is tuple:
        return ("tuple", tuple(_const_key(x) for x in v))
    if isinstance(v, np.ndarray):
        return ("id", id(v))
    try:
        hash(v)
    except TypeError:
        return ("id", id(v))
    return ("const", type(v), repr(v))  # repr: 0.0 and -0.0 are equal but not the same constant


def _common_subexpressions(rec: _Recording, outputs: list) -> tuple[list, list]:
    """The calls with repeats of one call on the same arguments dropped (x[0] read by several steps),
    their uses renamed; a guard on a dropped slot moves to the slot kept. Forwards are pure, so the
    kept call gives the same bits."""
    canon: dict[int, int] = {}
    seen: dict[Any, int] = {}

    def rename(r: tuple) -> tuple:
        return _renamed(r, canon)

    def key(r: tuple) -> Any:
        if r[0] == "seq":
            return ("seq", r[1], tuple(key(x) for x in r[2]))
        if r[0] == "slot":
            return r
        return _const_key(r[1])

    calls = []
    for s, forward, refs, kw, wrap in rec.calls:
        refs = [rename(r) for r in refs]
        kw = {k: rename(r) for k, r in kw.items()}
        k = (id(forward), tuple(key(r) for r in refs), tuple((n, key(r)) for n, r in kw.items()), wrap)
        first = seen.get(k)
        if first is not None and rec.values[first].dtype == rec.values[s].dtype:
            canon[s] = first
            if s in rec.guards:
                rec.guards.add(first)
                rec.guards.discard(s)
            continue
        seen[k] = s
        calls.append((s, forward, refs, kw, wrap))
    return calls, [rename(r) for r in outputs]


def _live(calls: list, outputs: list, guards: set[int]) -> list:
    """The calls the outputs and guards need, in order."""
    needed = {s for kind, s in outputs if kind == "slot"} | guards
    live = []
    for call in reversed(calls):
        if call[0] in needed:
            live.append(call)
            needed.update(_slots_in([*call[2], *call[3].values()]))
    live.reverse()
    return live


def _exact_rewrites(rec: _Recording, calls: list, outputs: list) -> tuple[list, list]:
    """Fewer calls giving the same bits (IEEE 754 makes both exact): identity(x) is x, x * ones (a seed's
    broadcast) is x, -(-x) is x, a + (-b), (-b) + a are a - b when the negation is read nowhere else, a one-element
    value reshaped only to be broadcast is broadcast itself, and an arithmetic ufunc broadcasts an
    operand itself where an explicit broadcast (or a reshape of one element) made the same shape (a bias's
    tangent, b + x @ w; the gradient of n - sum(x) + x)."""
    uses: dict[int, int] = {}
    for _, _, refs, kw, _ in calls:
        for s in _slots_in([*refs, *kw.values()]):
            uses[s] = uses.get(s, 0) + 1
    kept = {s for kind, s in outputs if kind == "slot"} | rec.guards
    made = {c[0]: c for c in calls}
    canon: dict[int, int] = {}

    def rename(r: tuple) -> tuple:
        return _renamed(r, canon)

    def negated(r: tuple) -> tuple | None:
        call = made.get(r[1]) if r[0] == "slot" else None
        if call is None or call[1] is not np.negative or call[3] or len(call[2]) != 1 or uses.get(r[1]) != 1 \
                or r[1] in kept or call[4]:
            return None
        return rename(call[2][0])  # its operand may itself have been renamed (x * ones is x)

    def broadcast_source(r: tuple, other: tuple, s: int) -> tuple:
        """r's operand when r is a broadcast read only by s, whose own broadcasting gives the same values."""
        call = made.get(r[1]) if r[0] == "slot" else None
        if call is None or call[1] not in (_BROADCAST_TO, _RESHAPE) or uses.get(r[1]) != 1 or r[1] in kept \
                or call[4] or len(call[2]) != 1 or call[2][0][0] != "slot":
            return r
        source = rename(call[2][0])
        if call[1] is _RESHAPE and rec.values[source[1]].size != 1:  # (one element: every broadcast the same)
            return r
        shape = rec.values[other[1]].shape if other[0] == "slot" else np.shape(other[1])
        same = rec.values[source[1]].dtype == rec.values[r[1]].dtype
        return source if same and np.broadcast_shapes(rec.values[source[1]].shape, shape) == rec.values[s].shape else r

    out = []
    for s, forward, refs, kw, wrap in calls:
        refs = [rename(r) for r in refs]
        kw = {k: rename(r) for k, r in kw.items()}
        if forward is _IDENTITY and len(refs) == 1 and not kw and refs[0][0] == "slot" and s not in kept:
            canon[s] = refs[0][1]  # an input's fresh node: the same array
            continue
        if forward is np.multiply and not kw and len(refs) == 2 and s not in kept:
            y = rec.values[s]
            for i in (0, 1):
                one, other = refs[i], refs[1 - i]
                if one[0] == "const" and other[0] == "slot" and isinstance(one[1], np.ndarray) \
                        and one[1].dtype == y.dtype and np.all(one[1] == 1.0) \
                        and rec.values[other[1]].shape == y.shape and rec.values[other[1]].dtype == y.dtype \
                        and rec.values[other[1]].__class__ is y.__class__:
                    canon[s] = other[1]
                    break
            if s in canon:
                continue
        if forward is np.negative and not kw and len(refs) == 1 and refs[0][0] == "slot" and s not in kept:
            inner = made.get(refs[0][1])
            if inner is not None and inner[1] is np.negative and not inner[3] and len(inner[2]) == 1 \
                    and inner[2][0][0] == "slot" and inner[4] == wrap:
                canon[s] = canon.get(inner[2][0][1], inner[2][0][1])
                continue
        if forward is _BROADCAST_TO and len(refs) == 1 and refs[0][0] == "slot":
            inner = made.get(refs[0][1])
            if inner is not None and inner[1] is _RESHAPE and uses.get(refs[0][1]) == 1 and refs[0][1] not in kept \
                    and inner[2][0][0] == "slot" and rec.values[inner[2][0][1]].size == 1:
                refs = [rename(inner[2][0])]
        if forward in _IN_PLACE and not kw and len(refs) == 2 and rec.values[s].ndim:
            refs = [broadcast_source(r, refs[1 - i], s) for i, r in enumerate(refs)]
        if forward is np.add and not kw and len(refs) == 2 and all(r[0] in ("slot", "const") for r in refs):
            b = negated(refs[1])
            if b is not None:
                forward, refs = np.subtract, [refs[0], b]
            elif (a := negated(refs[0])) is not None:
                forward, refs = np.subtract, [refs[1], a]
        if forward in _IN_PLACE and not kw and len(refs) == 2 and rec.values[s].ndim:  # (again: a reshape negated)
            refs = [broadcast_source(r, refs[1 - i], s) for i, r in enumerate(refs)]
        out.append((s, forward, refs, kw, wrap))
        made[s] = out[-1]  # later rules see the call as rewritten (a broadcast of a reshape: of its source)
    return out, [rename(r) for r in outputs]


def _scatter_many(*gs: np.ndarray, indices: tuple, shape: tuple) -> np.ndarray:
    """gs[0] placed at indices[0] in zeros of `shape`, each later g added at its index: getitem's gradient
    (one scatter, then index_adds) at disjoint basic indices, which `_scatter_chains` makes one call.
    Only disjoint indices reach it, so a later g is added to zeros: g + 0.0 (-0.0 made +0.0, as eager's)."""
    out = np.zeros(shape, dtype=np.result_type(*gs))
    for g, index in zip(gs[1:], indices[1:]):
        out[index] = g
    out += np.zeros((), out.dtype)
    out[indices[0]] = gs[0]
    return out


def _scatter_chains(rec: _Recording, calls: list, kept: set[int]) -> list:
    """A small array's gradient through several getitems at disjoint basic indices (x[0::4] .. x[3::4]):
    the scatter into zeros and the index_adds onto it, each read only by the next, as one `_scatter_many`
    (assignments side by side and one pass adding 0.0, for the signs of zeros; not a copy and a strided
    read-add-write per index). Large arrays keep the chain (fewer passes over memory there)."""
    at = {c[0]: i for i, c in enumerate(calls)}
    uses: dict[int, int] = {}
    for _, _, refs, kw, _ in calls:
        for q in _slots_in([*refs, *kw.values()]):
            uses[q] = uses.get(q, 0) + 1
    drop: set[int] = set()
    out = list(calls)
    for i, (s, forward, refs, kw, _) in enumerate(calls):
        if forward is not _INDEX_ADD or s in drop or len(refs) != 2 or set(kw) != {"index"} \
                or kw["index"][0] != "const" or refs[0][0] != "slot":
            continue
        chain = [i]  # back from this index_add to the scatter starting it
        while True:
            c = calls[chain[-1]]
            r = c[2][0]
            j = at.get(r[1]) if r[0] == "slot" else None
            if j is None or uses.get(r[1]) != 1 or r[1] in kept:
                break
            prev = calls[j]
            if prev[1] is _INDEX_ADD and len(prev[2]) == 2 and set(prev[3]) == {"index"} \
                    and prev[3]["index"][0] == "const" and prev[2][0][0] == "slot":
                chain.append(j)
                continue
            if prev[1] is _SCATTER_ADD and len(prev[2]) == 1 and set(prev[3]) == {"index", "shape"} \
                    and prev[3]["index"][0] == "const" and prev[3]["shape"][0] == "const":
                chain.append(j)
            break
        first = calls[chain[-1]]
        if first[1] is not _SCATTER_ADD or len(chain) < 2:
            continue
        chain.reverse()
        y = rec.values[s]
        indices = tuple(calls[j][3]["index"][1] for j in chain)
        gs = [first[2][0]] + [calls[j][2][1] for j in chain[1:]]
        if not all(F._is_basic_index(ix) for ix in indices) or not y.ndim or y.size >= _BIG \
                or y.dtype.kind != "f" or any(g[0] != "slot" or rec.values[g[1]].dtype != y.dtype for g in gs) \
                or tuple(first[3]["shape"][1]) != y.shape or any(calls[j][4] for j in chain):
            continue
        positions = np.arange(y.size).reshape(y.shape)
        taken = np.concatenate([np.ravel(positions[ix]) for ix in indices])
        if np.unique(taken).size != taken.size:
            continue  # overlapping indices add up: the chain as recorded
        for j in chain[:-1]:
            drop.add(calls[j][0])
        out[i] = (s, _scatter_many, gs, {"indices": ("const", indices), "shape": ("const", y.shape)}, False)
    return [c for c in out if c[0] not in drop]


_SMALL = 16  # vectors of at most this many float64 elements are summed in Python floats (see `_Elements`)


def _small_vector(rec: _Recording, r: tuple) -> bool:
    return r[0] == "slot" and rec.values[r[1]].ndim == 1 and 0 < rec.values[r[1]].size <= _SMALL \
        and rec.values[r[1]].dtype == np.float64 and rec.values[r[1]].__class__ is np.ndarray


def _is_total(forward: Any, refs: list, kw: dict) -> bool:
    """The call is np.sum of one vector over all of it (F.sum's forward, axis None, no keepdims)."""
    return forward is _SUM and len(refs) == 1 and all(kw.get(k, ("const", d))[0] == "const"
                                                     and kw.get(k, ("const", d))[1] is d
                                                     for k, d in (("axis", None), ("keepdims", False))) \
        and set(kw) <= {"axis", "keepdims"}


def _sum_of_products(a: np.ndarray, b: np.ndarray) -> np.float64:
    """np.sum(a * b), for two small float64 vectors of one shape (`_sums_of_products` makes the pair one
    call, written out in Python floats by `_Elements.call` in `_pairwise` order)."""
    return np.add.reduce(a * b)


def _sums_of_products(rec: _Recording, calls: list, kept: set[int]) -> list:
    """The total of a product of two small float64 vectors (a sum of squares) read nowhere else: one
    `_sum_of_products` call, so the product is made element by element in the sum's own Python floats."""
    uses: dict[int, int] = {}
    for _, _, refs, kw, _ in calls:
        for q in _slots_in([*refs, *kw.values()]):
            uses[q] = uses.get(q, 0) + 1
    made = {c[0]: c for c in calls}
    drop: set[int] = set()
    out = []
    for s, forward, refs, kw, wrap in calls:
        if _is_total(forward, refs, kw) and refs[0][0] == "slot" and uses.get(refs[0][1]) == 1 \
                and refs[0][1] not in kept:
            m = made.get(refs[0][1])
            if m is not None and m[1] is np.multiply and not m[3] and not m[4] and len(m[2]) == 2 \
                    and all(_small_vector(rec, q) and rec.values[q[1]].shape == rec.values[m[0]].shape for q in m[2]) \
                    and _small_vector(rec, refs[0]):
                drop.add(m[0])
                forward, refs, kw = _sum_of_products, list(m[2]), {}
        out.append((s, forward, refs, kw, wrap))
    return [c for c in out if c[0] not in drop]


def _pairwise(terms: list[str]) -> str:
    """numpy's pairwise summation of float64 `terms` (loops_utils.h: under 8 in order from -0.0, which
    adds nothing; up to 128 eight accumulators, their tree, the rest in order) as one Python expression."""
    n = len(terms)
    if n < 8:
        expr = terms[0]
        for t in terms[1:]:
            expr = f"({expr} + {t})"
        return expr
    assert n <= 128  # (_SMALL: one block of the recursion)
    acc = terms[:8]
    i = 8
    while i < n - n % 8:
        acc = [f"({acc[j]} + {terms[i + j]})" for j in range(8)]
        i += 8
    expr = f"((({acc[0]} + {acc[1]}) + ({acc[2]} + {acc[3]})) + (({acc[4]} + {acc[5]}) + ({acc[6]} + {acc[7]})))"
    for t in terms[i:]:
        expr = f"({expr} + {t})"
    return expr


class _Elements:
    """Small float64 values (0-d, or vectors of at most _SMALL elements) held as Python floats, one local
    (or literal) per element: numpy's per-call cost (~0.2 us a ufunc, ~0.7 us a reduction) is most of a
    small problem's program, a float operation ~15 ns. + - * and negation, squares (x * x, as numpy's
    `x ** 2` is), totals in numpy's pairwise order, views (basic getitem, reshape, broadcast) and
    getitem's gradients are the same IEEE 754 operations on the same values in the same order, so the
    bits are eager's (NaN payloads aside; Python floats set no numpy warnings or errors). An array is made
    of the elements (np.array of the list) only where numpy code, a guard or the result reads one."""

    def __init__(self, rec: _Recording, env: dict, named: list[int]) -> None:
        self.rec, self.env = rec, env
        self.held: dict[int, list[str]] = {}  # slot -> its elements' expressions (names or literals)
        self.named = set(named)  # slots with an array (or numpy scalar) variable t{s}
        self.views: dict[int, tuple[int, str]] = {}  # a held view of a slot: (that slot, the view's numpy code)

    def eligible(self, s: int) -> bool:
        v = self.rec.values[s]
        return v.__class__ in (np.ndarray, np.float64) and v.dtype == np.float64 \
            and (v.ndim == 0 or (v.ndim == 1 and 0 < v.size <= _SMALL))

    def bind(self, c: Any) -> str:
        key = f"c{len(self.env)}"
        self.env[key] = c
        return key

    def literal(self, x: float) -> str:
        if not np.isfinite(x):
            return self.bind(x)
        return f"({x!r})" if np.signbit(x) else repr(x)

    def constant(self, c: Any) -> list[str] | None:
        """A number or float64 array's elements as literals (exactly the values numpy computes with)."""
        if isinstance(c, bool) or not isinstance(c, (int, float, np.float64, np.ndarray)):
            return None
        if isinstance(c, int):
            return [self.literal(float(c))] if abs(c) <= 2 ** 53 else None
        if isinstance(c, np.ndarray) and (c.dtype != np.float64 or c.ndim > 1 or c.size > _SMALL or not c.size):
            return None
        return [self.literal(x) for x in np.ravel(c).tolist()]

    def available(self, r: tuple) -> bool:
        if r[0] == "const":
            return self.constant(r[1]) is not None
        return r[0] == "slot" and self.eligible(r[1]) and (r[1] in self.held or r[1] in self.named)

    def elements(self, r: tuple, lines: list[str]) -> list[str]:
        """r's elements (an `available` one), unpacking a named array at its first use."""
        if r[0] == "const":
            out = self.constant(r[1])
            assert out is not None
            return out
        s = r[1]
        if s not in self.held:
            v = self.rec.values[s]
            names = [f"t{s}_{i}" for i in range(v.size)]
            lines.append(f"    {names[0]} = float(t{s})" if v.ndim == 0 else f"    {', '.join(names)}, = t{s}.tolist()")
            self.held[s] = names
        return self.held[s]

    def materialize(self, s: int, lines: list[str], fresh: set[int]) -> None:
        """The array of a held slot, where numpy code reads it (a numpy scalar when 0-d, as a ufunc gives)."""
        if s in self.named or s not in self.held:
            return
        if s in self.views:  # a view (x[0::4]) is made as numpy makes it, of its source's array
            source, code = self.views[s]
            self.materialize(source, lines, fresh)
            lines.append(f"    t{s} = {code}")
            self.named.add(s)
            return
        e = self.held[s]
        made = f"_float64({e[0]})" if self.rec.values[s].ndim == 0 else f"_array([{', '.join(e)}])"
        lines.append(f"    t{s} = {made}")
        self.named.add(s)
        fresh.add(s)

    def call(self, s: int, forward: Any, refs: list, kw: dict, lines: list[str]) -> bool:
        """s's call written element by element (True), or not one this layer takes (False, nothing written)."""
        rec = self.rec
        if not self.eligible(s):
            return False
        y = rec.values[s]
        n = y.size

        def index(r: tuple, size: int) -> np.ndarray | None:  # a static basic index's positions in a vector
            if r[0] != "const" or not F._is_basic_index(r[1]):
                return None
            try:
                return np.arange(size)[r[1]]
            except (IndexError, TypeError):
                return None

        def fits(r: tuple, m: int = n) -> bool:  # elements to take m of (one broadcast, or m)
            return self.available(r) and self.count(r) in (1, m) and (self.count(r) == 1 or y.ndim == 1)

        def put(values: list[str]) -> None:  # new values: one local each
            names = [f"t{s}_{i}" for i in range(len(values))]
            lines.extend(f"    {a} = {v}" for a, v in zip(names, values))
            self.held[s] = names

        def spread(e: list[str]) -> list[str]:
            return e * n if len(e) == 1 else e

        if forward in (np.add, np.subtract, np.multiply) and not kw and len(refs) == 2 and all(fits(r) for r in refs):
            op = {np.add: "+", np.subtract: "-", np.multiply: "*"}[forward]
            a, b = (spread(self.elements(r, lines)) for r in refs)
            put([f"{x} {op} {z}" for x, z in zip(a, b)])
            return True
        if forward is np.negative and not kw and len(refs) == 1 and fits(refs[0]):
            put([f"-{x}" for x in spread(self.elements(refs[0], lines))])
            return True
        if forward is operator.pow and not kw and len(refs) == 2 and fits(refs[0]) and refs[1][0] == "const" \
                and refs[1][1].__class__ in (int, float) and refs[1][1] == 2:  # numpy's x ** 2 is np.square: x * x
            put([f"{x} * {x}" for x in spread(self.elements(refs[0], lines))])
            return True
        source = refs[0] if refs and refs[0][0] == "slot" and self.available(refs[0]) else None
        size = rec.values[source[1]].size if source is not None else 0
        if source is None:
            return False
        if forward in (_IDENTITY, _RESHAPE) and len(refs) == 1 and size == n and rec.values[source[1]].ndim <= 1:
            self.held[s] = self.elements(source, lines)  # the same values in the same order: no statement
            if forward is _RESHAPE and kw.get("shape", ("",))[0] == "const":
                self.views[s] = (source[1], f"t{source[1]}.reshape({self.bind(kw['shape'][1])})")
            return True
        if forward is _BROADCAST_TO and len(refs) == 1 and size in (1, n) and y.ndim == 1:
            self.held[s] = spread(self.elements(source, lines))
            return True
        if forward is _GETITEM and len(refs) == 1 and set(kw) == {"index"} and rec.values[source[1]].ndim == 1:
            at = index(kw["index"], size)
            if at is not None and at.shape == y.shape:
                e = self.elements(source, lines)
                self.held[s] = [e[i] for i in np.ravel(at).tolist()]
                self.views[s] = (source[1], f"t{source[1]}[{self.bind(kw['index'][1])}]")
                return True
            return False
        x = rec.values[source[1]]
        total = _is_total(forward, refs, kw) or (forward is _SUM_TO and len(refs) == 1 and set(kw) == {"shape"}
                                                  and kw["shape"][0] == "const" and x.ndim == 1
                                                  and (not kw["shape"][1] or x.size != 1))  # (_numpy_sum_to's axes)
        if total and x.ndim == 1:
            put([f"0.0 + {_pairwise(self.elements(source, lines))}"])  # add.reduce: 0.0 + the pairwise sum
            return True
        if (total or forward is _SUM_TO) and x.shape == y.shape:
            self.held[s] = self.elements(source, lines)  # nothing to add up (np.sum of a 0-d is the value)
            return True
        if forward is _sum_of_products and len(refs) == 2 and all(self.available(r) for r in refs):
            a, b = (self.elements(r, lines) for r in refs)
            put([f"0.0 + {_pairwise([f'{x} * {z}' for x, z in zip(a, b)])}"])
            return True
        if y.ndim != 1:
            return False
        if forward is _SCATTER_ADD and len(refs) == 1 and set(kw) == {"index", "shape"} \
                and kw["shape"][0] == "const" and tuple(kw["shape"][1]) == y.shape:
            at = index(kw["index"], n)
            if at is None or at.ndim > 1 or size not in (1, at.size):
                return False
            e = self.elements(source, lines)
            out = ["0.0"] * n  # zeros with g assigned at the index (no position repeats)
            for p, v in zip(np.ravel(at).tolist(), e * at.size if size == 1 else e):
                out[p] = v
            self.held[s] = out
            return True
        if forward is _INDEX_ADD and len(refs) == 2 and set(kw) == {"index"} and size == n:
            at = index(kw["index"], n)
            if at is None or at.ndim > 1 or not fits(refs[1], at.size):
                return False
            g = self.elements(refs[1], lines)
            out = list(self.elements(source, lines))
            for p, v in zip(np.ravel(at).tolist(), g * at.size if len(g) == 1 else g):
                lines.append(f"    t{s}_{p} = {out[p]} + {v}")  # acc's copy, g added at the index
                out[p] = f"t{s}_{p}"
            self.held[s] = out
            return True
        if forward is _scatter_many and refs and all(self.available(r) for r in refs):
            out = ["0.0"] * n
            indices = kw["indices"][1]
            for k, (r, ix) in enumerate(zip(refs, indices)):
                at = np.ravel(np.arange(n)[ix]).tolist()
                e = self.elements(r, lines)
                for p, v in zip(at, e * len(at) if len(e) == 1 else e):
                    if k:
                        lines.append(f"    t{s}_{p} = {v} + 0.0")
                        out[p] = f"t{s}_{p}"
                    else:
                        out[p] = v
            self.held[s] = out
            return True
        return False

    def count(self, r: tuple) -> int:
        """How many elements an `available` r has."""
        if r[0] == "const":
            return len(self.constant(r[1]) or ())
        return int(self.rec.values[r[1]].size)


def _signs(rec: _Recording, calls: list, outputs: list) -> list:
    """Negations folded where IEEE 754 makes it exact (signed zeros included; a NaN's sign bit aside, as
    in a + (-b) -> a - b): c + (-a) b is c - a b ((-a) b is -(a b), and c + (-y) is c - y by definition),
    -(x k) is x (-k) for a number k, and -((-x) - x) is x + x ((-x) + (-x) has no cancellation). Each
    folded value is read once, so nothing else sees the change: a pass or two fewer in the Hessian-vector
    products of sums of squares (the tangent of 1 - x, the VJP of a - b)."""
    uses: dict[int, int] = {}
    for _, _, refs, kw, _ in calls:
        for s in _slots_in([*refs, *kw.values()]):
            uses[s] = uses.get(s, 0) + 1
    kept = {s for kind, s in outputs if kind == "slot"} | rec.guards
    at = {c[0]: i for i, c in enumerate(calls)}
    calls = list(calls)
    dtype: dict[str, np.dtype] = {}

    def plain(r: tuple, forward: Any, n: int) -> tuple | None:
        """r's call when r is `forward` on n same-dtype operands, read once, not kept."""
        i = at.get(r[1]) if r[0] == "slot" else None
        if i is None or uses.get(r[1]) != 1 or r[1] in kept:
            return None
        c = calls[i]
        if c[1] is not forward or c[3] or c[4] or len(c[2]) != n or rec.values[r[1]].dtype != dtype["y"] \
                or any(q[0] == "slot" and rec.values[q[1]].dtype != dtype["y"] for q in c[2]):
            return None
        return c

    for j, (s, forward, refs, kw, wrap) in enumerate(calls):
        if kw or wrap or forward not in (np.negative, np.add) or any(r[0] != "slot" for r in refs):
            continue
        dtype["y"] = rec.values[s].dtype
        if forward is np.negative and len(refs) == 1 and (c := plain(refs[0], np.multiply, 2)) is not None \
                and any(q[0] == "const" and isinstance(q[1], float) for q in c[2]):
            calls[j] = (s, np.multiply, [("const", -q[1]) if q[0] == "const" else q for q in c[2]], {}, False)
        elif forward is np.negative and len(refs) == 1:
            c = plain(refs[0], np.subtract, 2)
            if c is not None and c[2][0][0] == "slot" and (n := plain(c[2][0], np.negative, 1)) is not None \
                    and n[2][0] == c[2][1]:
                calls[j] = (s, np.add, [c[2][1], c[2][1]], {}, False)
        elif forward is np.add and len(refs) == 2:
            for k in (1, 0):
                m = plain(refs[k], np.multiply, 2)
                q = next((q for q in (0, 1) if m is not None and m[2][q][0] == "slot"
                          and plain(m[2][q], np.negative, 1) is not None), None)
                if m is not None and q is not None:
                    operands = list(m[2])
                    operands[q] = calls[at[operands[q][1]]][2][0]
                    calls[at[m[0]]] = (m[0], np.multiply, operands, {}, False)
                    calls[j] = (s, np.subtract, [refs[1 - k], refs[k]], {}, False)
                    break
    return calls


def _tree_source(treedef: Any, leaves: Any, arg: Callable) -> str:
    """The expression building a result tree of shape `treedef` from the leaves' expressions."""
    if treedef[0] == "leaf":
        return str(next(leaves))
    if treedef[0] == "none":
        return "None"
    kind, keys, children = treedef
    items = [_tree_source(c, leaves, arg) for c in children]
    if kind is dict:
        return "{" + ", ".join(f"{arg(('const', k))}: {v}" for k, v in zip(keys, items)) + "}"
    if kind is tuple:
        return f"({', '.join(items)},)" if items else "()"
    if kind is list:
        return f"[{', '.join(items)}]"
    return f"{arg(('const', kind))}({', '.join(items)})"  # a namedtuple takes its fields


def _slots_in(refs: list) -> list[int]:
    out = []
    for r in refs:
        if r[0] == "slot":
            out.append(r[1])
        elif r[0] == "seq":
            out.extend(_slots_in(r[2]))
    return out


# ----------------------------------------------------------------------------------------------
# The program: recorded calls as generated Python source, compiled once per trace.

def _generate(rec: _Recording, inputs: list[int], outputs: list[Any], out_def: Any, name: str,
              signature: list | None = None) -> tuple[Callable, Callable | None]:
    """Straight-line source for the calls the outputs and guards need (dead calls dropped), with every
    forward, constant and guard value bound as a global of the generated function; it returns fn's
    result tree (of shape `out_def`) itself, and is given the leaves. With the `signature` of a plain
    call (`_signature`) it is an entry instead (returned twice): it takes fn's own arguments and checks
    their structure, shapes and dtypes first (raising _Miss)."""
    calls, outputs = _common_subexpressions(rec, outputs)
    live = _live(calls, outputs, rec.guards)
    calls, outputs = _exact_rewrites(rec, live, outputs)
    live = _live(_signs(rec, _live(calls, outputs, rec.guards), outputs), outputs, rec.guards)
    kept = {s for kind, s in outputs if kind == "slot"} | rec.guards
    live = _sums_of_products(rec, _scatter_chains(rec, live, kept), kept)
    env: dict[str, Any] = {"_Stale": _Stale, "_asarray": np.asarray, "_array": np.array, "_zeros": np.zeros,
                           "_empty": np.empty, "_add_reduce": np.add.reduce, "_float64": np.float64,
                           "_reshape": np.reshape, "_broadcast_to": np.broadcast_to,
                           "_negative": np.negative, "_matmul": np.matmul, "_swapaxes": np.swapaxes}
    out_slots = {s for kind, s in outputs if kind == "slot"}
    last_use: dict[int, int] = {}
    for i, (_, _, refs, kw, _) in enumerate(live):
        for s in _slots_in([*refs, *kw.values()]):
            last_use[s] = i

    def arg(r: tuple) -> str:
        if r[0] == "slot":
            return f"t{r[1]}"
        if r[0] == "seq":
            items = ", ".join(arg(x) for x in r[2])
            return f"({items},)" if r[1] is tuple else f"[{items}]"
        key = f"c{len(env)}"
        env[key] = r[1]
        return key

    def guard(s: int) -> list[str]:
        if s not in rec.guards:
            return []
        v = rec.values[s]
        env[f"g{s}"] = (v.shape, v.dtype, v.tobytes())
        return [f"    if (t{s}.shape, t{s}.dtype, t{s}.tobytes()) != g{s}:", "        raise _Stale"]

    uses: dict[int, int] = {}
    for _, _, refs, kw, _ in live:
        for s in _slots_in([*refs, *kw.values()]):
            uses[s] = uses.get(s, 0) + 1
    for s in [*out_slots, *rec.guards]:
        uses[s] = uses.get(s, 0) + 2
    ctx = _Context(rec, uses, arg)
    ctx.kept = out_slots | rec.guards
    lines = [f"def {name}({', '.join(f't{s}' for s in inputs)}):"]
    for s in inputs:
        lines += guard(s)
    elements = _Elements(rec, env, inputs)
    for i, (s, forward, refs, kw, wrap) in enumerate(live):
        if elements.call(s, forward, refs, kw, lines):
            if s in rec.guards:
                elements.materialize(s, lines, ctx.fresh)
                lines += guard(s)
            continue
        for d in _slots_in([*refs, *kw.values()]):  # numpy code reads arrays
            elements.materialize(d, lines, ctx.fresh)
        elements.named.add(s)
        inlined = _inline(s, forward, refs, kw, wrap, ctx)
        if inlined is not None:
            lines += inlined
        else:
            fkey = f"f{s}"
            env[fkey] = forward
            a = arg if isinstance(forward, np.ufunc) else ctx.as_eager  # Python code may take scalars apart
            call = f"{fkey}({', '.join([a(r) for r in refs] + [f'{k}={a(r)}' for k, r in kw.items()])})"
            # numpy scalars (a ufunc on 0-d arrays) stay scalars inside: the same IEEE operations, one
            # call less per statement; results are made arrays below, as the recorder makes them
            lines.append(f"    t{s} = {call}")
        lines += guard(s)
        dead = [d for d, j in last_use.items() if j == i and d not in out_slots and d not in inputs
                and rec.values[d].size >= _BIG]
        if dead:
            lines.append(f"    del {', '.join(f't{d}' for d in dead)}")
    for kind, v in outputs:
        if kind == "slot":
            elements.materialize(v, lines, ctx.fresh)
    wrapped = {s for s, _, _, _, wrap in live if wrap}

    def _wrapped(s: int) -> bool:
        return s in wrapped

    # A result the caller may write to: a copy when it is an input, a constant, a view (of a buffer the
    # program did not make itself), repeated or a numpy scalar (made a 0-d array, as eager gives).
    seen: set[int] = set()
    results = []
    for kind, v in outputs:
        if kind == "const":
            results.append(f"_array({arg(('const', v))})")
        elif v in inputs or v in seen or not (rec.values[v].flags.owndata or v in ctx.fresh) or _wrapped(v):
            results.append(f"_array(t{v})")
        else:
            results.append(f"t{v}")
        if kind == "slot":
            seen.add(v)
    lines.append(f"    return {_tree_source(out_def, iter(results), arg)}")
    if signature is not None:  # the program is the entry itself (one compile: a trace's largest cost)
        params, checks = _entry_head(signature, inputs, rec, env)
        lines = [f"def {name}({', '.join(params)}):", *checks, *lines[1:]]
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<jit {name}>", "exec")
    exec(code, env)  # noqa: S102 (our own generated source, no user text)
    program = env[name]
    program.source = source
    return program, program if signature is not None else None


def _signature(args: tuple) -> list | None:
    """A plain call's structure: per argument None (a float ndarray) or (tuple or list, length) of float
    ndarrays; None for any other call (nested trees, numbers, settings), which takes the general path."""
    sig: list = []
    for a in args:
        if a.__class__ is np.ndarray and a.dtype.kind == "f":
            sig.append(None)
        elif (a.__class__ is tuple or a.__class__ is list) \
                and all(b.__class__ is np.ndarray and b.dtype.kind == "f" for b in a):
            sig.append((a.__class__, len(a)))
        else:
            return None
    return sig


def _entry_head(signature: list, inputs: list[int], rec: _Recording, env: dict) -> tuple[list[str], list[str]]:
    """The entry's parameters and its checks: each argument of the trace's class (and length), each array
    of its shape and dtype (by identity first: the usual dtype objects are numpy's own, an unpickled
    array's an equal copy)."""
    env["_Miss"], env["_ndarray"] = _Miss, np.ndarray
    params: list[str] = []
    checks: list[str] = []
    unpack: list[str] = []
    leaves = iter(inputs)

    def array(s: int) -> None:
        v = rec.values[s]
        env[f"S{s}"], env[f"D{s}"] = v.shape, v.dtype
        checks.extend([f"t{s}.__class__ is not _ndarray", f"t{s}.shape != S{s}",
                       f"(t{s}.dtype is not D{s} and t{s}.dtype != D{s})"])

    for i, kind in enumerate(signature):
        if kind is None:
            s = next(leaves)
            params.append(f"t{s}")
            array(s)
            continue
        cls, n = kind
        params.append(f"a{i}")
        env[f"K{i}"] = cls
        slots = [next(leaves) for _ in range(n)]
        unpack.append(f"    if a{i}.__class__ is not K{i} or len(a{i}) != {n}:")
        unpack.append("        raise _Miss")
        if slots:
            unpack.append(f"    {', '.join(f't{s}' for s in slots)}, = a{i}")
        for s in slots:
            array(s)
    body = [*unpack]
    if checks:
        body += [f"    if {' or '.join(checks)}:", "        raise _Miss"]
    return params, body


# ----------------------------------------------------------------------------------------------
# jit itself: a cache of programs by the input tree's shapes and dtypes.

def _is_traced_leaf(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic, float)) and not isinstance(x, bool)


def _plain_call(args: tuple) -> tuple[tuple, list] | None:
    """The usual call's cache key and leaves, or None: float ndarrays in tuples and lists only, so no
    general tree to flatten and nothing to convert. Arrays and flat tuples of them (f(x), hvp(x, v), a
    network's parameters: the hot calls) take one loop; nested ones `_nested_call`, with the same keys."""
    key: list[Any] = ["plain"]
    leaves: list[np.ndarray] = []
    for a in args:
        c = a.__class__
        if c is np.ndarray:
            if a.dtype.kind != "f":
                return None
            key.append((a.shape, a.dtype))
            leaves.append(a)
        elif c is tuple or c is list:
            key.append((c, len(a)))
            for b in a:
                if b.__class__ is not np.ndarray or b.dtype.kind != "f":
                    return _nested_call(args)
                key.append((b.shape, b.dtype))
            leaves.extend(a)
        else:
            return None
    return tuple(key), leaves


def _nested_call(args: tuple) -> tuple[tuple, list] | None:
    key: list[Any] = ["plain"]
    leaves: list[np.ndarray] = []
    stack = list(reversed(args))
    while stack:
        a = stack.pop()
        if a.__class__ is np.ndarray:
            if a.dtype.kind != "f":
                return None
            key.append((a.shape, a.dtype))
            leaves.append(a)
        elif a.__class__ is tuple or a.__class__ is list:
            key.append((a.__class__, len(a)))
            stack.extend(reversed(a))
        else:
            return None
    return tuple(key), leaves


class _Entry:
    __slots__ = ("program", "fast", "nargs", "stale")

    def __init__(self) -> None:
        self.program: Callable | None = None
        self.fast: Callable | None = None  # the program's entry taking fn's arguments (plain calls only)
        self.nargs = -1  # how many arguments `fast` takes
        self.stale = 0  # calls whose guards failed


class Jitted:
    """fn, traced once per tree of input shapes/dtypes and replayed (see the module's docstring)."""

    def __init__(self, fn: Callable, cache_size: int = 32, max_retraces: int = 3) -> None:
        if not callable(fn):
            raise TypeError(f"jit: fn must be callable, got {type(fn).__name__}")
        if cache_size < 1:
            raise ValueError(f"jit: cache_size must be at least 1, got {cache_size}")
        self.fn, self.cache_size, self.max_retraces = fn, cache_size, max_retraces
        self.cache: OrderedDict = OrderedDict()
        self._fast: Callable = _no_entry  # the most recently used entry's `fast` (taking `_nargs` arguments)
        self._nargs = -1
        self.traces = 0  # how many times fn was traced (tests and benchmarks read it)
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)
        self.__doc__ = getattr(fn, "__doc__", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # the hot path: the most recent entry's program checks the arguments itself (a miss, or a failed
        # guard, takes the general path below, which looks up, retraces or gives up as it finds)
        if len(args) == self._nargs and not kwargs:
            try:
                return self._fast(*args)
            except (_Miss, _Stale):
                pass
        self._fast, self._nargs = _no_entry, -1
        return self._general(args, kwargs)

    def _use(self, entry: _Entry) -> None:
        """entry's program ran (or was traced): its entry takes the next call first."""
        if entry.fast is not None:
            self._fast, self._nargs = entry.fast, entry.nargs

    def _general(self, args: tuple, kwargs: dict) -> Any:
        if kwargs:
            raise TypeError(f"jit: {self.__name__} was called with keyword arguments {sorted(kwargs)}; "
                            f"pass arrays positionally (bind settings with a closure or functools.partial)")
        plain = _plain_call(args)
        if plain is not None:
            entry = self.cache.get(plain[0])
            if entry is not None and entry.program is not None:
                if len(self.cache) > 1:  # (one shape, the usual case: already the most recent)
                    self.cache.move_to_end(plain[0])
                try:
                    out = entry.fast(*args) if entry.fast is not None else entry.program(*plain[1])
                except _Stale:
                    pass  # the general path below retraces
                else:
                    self._use(entry)
                    return out
        leaves, in_def = flatten(args)
        parts: list[Any] = [in_def]
        for x in leaves:
            if isinstance(x, Variable):
                raise TypeError(f"jit: {self.__name__} got a Variable; jit the outermost function "
                                f"(jit(grad(f)), not grad(jit(f)))")
            if x.__class__ is np.ndarray:
                parts.append((x.shape, x.dtype))
            elif _is_traced_leaf(x):
                parts.append((np.shape(x), np.result_type(x)))
            else:
                parts.append(("static", type(x), x))
        key = plain[0] if plain is not None else tuple(parts)
        try:
            entry = self.cache[key]
            self.cache.move_to_end(key)
        except KeyError:
            entry = self._new_entry(key)
        except TypeError:
            raise TypeError(f"jit: {self.__name__} got an argument that is neither an array nor hashable "
                            f"(its type: {[type(x).__name__ for x in leaves if not _is_traced_leaf(x)]})") from None
        if entry.program is None:
            if entry.stale > self.max_retraces:
                return self.fn(*args)  # decisions change at every call: eager
            return self._trace(entry, args, leaves, in_def)
        xs = [as_data(x, "jit") for x in leaves if _is_traced_leaf(x)]
        try:
            out = entry.fast(*args) if entry.fast is not None else entry.program(*xs)
        except _Stale:
            entry.stale += 1
            entry.program = entry.fast = None
            if entry.stale > self.max_retraces:
                return self.fn(*args)
            return self._trace(entry, args, leaves, in_def)
        self._use(entry)
        return out

    @property
    def gave_up(self) -> bool:
        """Some input shapes run eagerly: their decisions changed at more than max_retraces calls."""
        return any(e.program is None and e.stale > self.max_retraces for e in self.cache.values())

    def _new_entry(self, key: tuple) -> _Entry:
        entry = self.cache[key] = _Entry()
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return entry

    def _trace(self, entry: _Entry, args: tuple, leaves: list, in_def: Any) -> Any:
        """Run fn on fresh Variables, recording; build the program; return fn's (eager) values."""
        rec = _Recording()
        self.traces += 1
        starts, inputs, seen = [], [], set()
        try:
            with transform_level() as level, _tracing(rec):  # a level of its own: what fn closes over is outside it
                for x in leaves:
                    if _is_traced_leaf(x):
                        v = Variable(np.array(x) if id(x) in seen else x)  # one array passed twice: two inputs
                        seen.add(id(x))
                        inputs.append(rec.new_slot(_DATA_SLOT.__get__(v, Variable)))
                        starts.append(v)
                    else:
                        starts.append(x)
                result = self.fn(*unflatten(in_def, starts))
        except JitError:
            raise
        except Exception as e:  # noqa: BLE001 (any failure of fn: tell tracing apart from fn's own)
            try:
                self.fn(*args)
            except Exception:  # noqa: BLE001
                raise e from None  # fn fails eagerly too: its own error
            raise JitError(f"jit: {self.__name__} runs on arrays but could not be traced ({type(e).__name__}: "
                           f"{e}); write it with optlab.autodiff.functions (F) so every step is seen") from None
        out_leaves, out_def = flatten(result)
        if any(made_outside(y, level) for y in out_leaves):  # a replay's bare arrays would drop that path
            raise JitError(f"jit: {self.__name__}'s result depends on a Variable it closes over (an outer "
                           f"transform's input or a leaf to backward to), and jit returns arrays that carry "
                           f"no gradient to it; call it without jit, or jit the outermost function")
        outputs = []
        for y in out_leaves:
            d = _DATA_SLOT.__get__(y, Variable) if isinstance(y, Variable) else as_data(y, "jit output")
            outputs.append(rec.ref(d) if isinstance(d, np.ndarray) else ("const", d))
        name = "jitted_" + "".join(c if c.isalnum() else "_" for c in self.__name__)
        signature = _signature(args)
        entry.program, entry.fast = _generate(rec, inputs, outputs, out_def, name, signature)
        entry.nargs = len(args) if signature is not None else -1
        self._use(entry)
        values = [np.array(rec.values[v]) if kind == "slot" else np.array(v) for kind, v in outputs]
        return unflatten(out_def, values)


def _no_entry(*args: Any) -> Any:
    raise _Miss


def jit(fn: Callable, cache_size: int = 32, max_retraces: int = 3) -> Jitted:
    """fn traced once per tree of input shapes and dtypes, later calls replaying the recorded numpy calls
    (at most `cache_size` traces kept, least recently used dropped). Equal to eager, bit for bit; a
    decision taken from values is checked at every replay, and after `max_retraces` failed checks those
    shapes run eagerly. Arrays (and floats) in the argument pytrees are inputs; other leaves (ints,
    strings, None) are settings, part of the cache key."""
    return Jitted(fn, cache_size, max_retraces)
