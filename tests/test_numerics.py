"""The machine's numerics stored with every run, and the portable pins the MGH publication is made with."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from optlab.experiment.numerics import AVX2_LEVELS, PORTABLE, cpu_features, numerics

SHOW = "import json, numpy, optlab.experiment.numerics as n; print(json.dumps(n.numerics()))"


def _numerics_in_a_process(env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_this_process_reports_its_simd_level_and_blas_kernel() -> None:
    dispatch, features = cpu_features()
    found = numerics()
    assert found["numpy simd"] in ("baseline", *(t for t in dispatch if features[t]))
    assert found["openblas"] != "" and (found["openblas"] != "?" or platform.system() != "Linux")


@pytest.mark.skipif(platform.machine() != "x86_64" or platform.system() != "Linux", reason="pins for x86-64 Linux")
def test_the_portable_pins_hold_in_a_new_process() -> None:
    if not cpu_features()[1].get("AVX2"):
        pytest.skip("no AVX2 on this CPU")
    pinned = _numerics_in_a_process(os.environ | PORTABLE)
    assert pinned["numpy simd"] in AVX2_LEVELS and pinned["openblas"] == "Haswell", pinned
    sandy = _numerics_in_a_process(os.environ | {"OPENBLAS_CORETYPE": "Sandybridge"})
    assert sandy["openblas"] == "Sandybridge"  # read from the library itself, not from the environment's text
