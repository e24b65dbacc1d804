"""What decides a run's last bits besides package versions: numpy's SIMD level and OpenBLAS's kernels.

Both follow the CPU: numpy dispatches its loops (exp, log, sin, ...) to the widest SIMD the machine has,
and OpenBLAS picks dot and matrix kernels (with other summation orders and FMA use) per CPU family. Two
x86-64 machines give different last bits, and rounding-sensitive runs then take other paths. `PORTABLE`
pins both to what every x86-64 machine with AVX2 and FMA has; it must be in the environment before numpy
is imported (the MGH study's README gives the `export`).
"""
from __future__ import annotations

import ctypes
import importlib
import platform

# numpy >= 2.4 names its AVX-512 targets X86_V4, AVX512_ICL, AVX512_SPR; numpy 1.x-2.3 AVX512F ... AVX512_SPR.
# A name a version does not dispatch on is ignored, so one list serves both.
PORTABLE = {"OPENBLAS_CORETYPE": "Haswell",
            "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512CD AVX512_KNL AVX512_KNM "
                                        "AVX512_SKX AVX512_CLX AVX512_CNL"}
AVX2_LEVELS = ("X86_V3", "AVX2")  # what simd_level() says under PORTABLE (numpy >= 2.4, older numpy)
_CORENAME = ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename")


def cpu_features() -> tuple[list[str], dict[str, bool]]:
    """numpy's dispatch targets (narrowest first) and which CPU features it uses, as numpy 1.x and 2.x hold them."""
    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # numpy 1.x
        umath = importlib.import_module("numpy.core._multiarray_umath")
    return list(umath.__cpu_dispatch__), dict(umath.__cpu_features__)


def simd_level() -> str:
    """The widest of numpy's dispatch targets this process uses (e.g. X86_V3, AVX512_SPR)."""
    dispatch, features = cpu_features()
    used = [target for target in dispatch if features.get(target)]
    return used[-1] if used else "baseline"


def blas_cores() -> str:
    """The kernel family of every OpenBLAS loaded in this process (numpy's, scipy's), '?' if none is seen."""
    if platform.system() != "Linux":
        return "?"
    with open("/proc/self/maps") as maps:
        libraries = sorted({line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1].lower()})
    cores = set()
    for path in libraries:
        library = ctypes.CDLL(path)
        for name in _CORENAME:
            if hasattr(library, name):
                corename = getattr(library, name)
                corename.restype = ctypes.c_char_p
                cores.add(corename().decode())
                break
    return "/".join(sorted(cores)) or "?"


def numerics() -> dict[str, str]:
    """The machine's numerics, stored with every run beside the package versions."""
    return {"numpy simd": simd_level(), "openblas": blas_cores()}
