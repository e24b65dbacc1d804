"""The machine's numerics stored with every run, and the portable pins the MGH publication is made with."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from optlab.experiment.numerics import PORTABLE, numerics

SHOW = "import json, numpy, optlab.experiment.numerics as n; print(json.dumps(n.numerics()))"


def _numerics_in_a_process(env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_this_process_reports_its_simd_level_and_blas_kernel() -> None:
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    found = numerics()
    assert found["numpy simd"] in ("baseline", *(t for t in __cpu_dispatch__ if __cpu_features__[t]))
    assert found["openblas"] != "" and (found["openblas"] != "?" or platform.system() != "Linux")


@pytest.mark.skipif(platform.machine() != "x86_64" or platform.system() != "Linux", reason="pins for x86-64 Linux")
def test_the_portable_pins_hold_in_a_new_process() -> None:
    from numpy._core._multiarray_umath import __cpu_features__

    if not __cpu_features__.get("AVX2"):
        pytest.skip("no AVX2 on this CPU")
    assert _numerics_in_a_process(os.environ | PORTABLE) == {"numpy simd": "X86_V3", "openblas": "Haswell"}
    sandy = _numerics_in_a_process(os.environ | {"OPENBLAS_CORETYPE": "Sandybridge"})
    assert sandy["openblas"] == "Sandybridge"  # read from the library itself, not from the environment's text
