"""Start-up stays light (issue 15): `import optlab` and `optlab --help` import none of the heavy libraries.

Checked by the modules loaded in a fresh interpreter, not by a clock: a loaded machine cannot fail it.
"""
import subprocess
import sys

import pytest

HEAVY = ("numpy", "scipy", "pydantic", "rich", "matplotlib", "pluggy", "yaml")
HELP = "import optlab.cli\nwith contextlib.redirect_stdout(io.StringIO()):\n    assert optlab.cli.main({argv!r}) == 0"
PROBE = """
import contextlib, io, sys
{code}
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


def loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running `code`."""
    proc = subprocess.run([sys.executable, "-c", PROBE.format(code=code, heavy=HEAVY)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [m for m in proc.stdout.strip().split(",") if m]


@pytest.mark.parametrize("code", [
    "import optlab",
    HELP.format(argv=["--help"]),
    HELP.format(argv=["run", "--help"]),
], ids=["import optlab", "optlab --help", "optlab run --help"])
def test_start_up_imports_nothing_heavy(code):
    assert loaded_after(code) == []


def test_the_lazy_names_still_arrive():
    """What `import optlab` defers is there on first use (plugins write `from optlab import hookimpl`)."""
    assert loaded_after("from optlab import hookimpl\nassert hookimpl.project_name == 'optlab'") == ["pluggy"]
    assert loaded_after(HELP.format(argv=["list", "--help"])) == []
    assert "numpy" in loaded_after("import optlab\noptlab.problems.get('rosenbrock')")
