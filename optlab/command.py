"""The registry of `optlab` subcommands, apart from the parser so command modules import no cycle."""
from __future__ import annotations

import argparse
import sys
from typing import Callable

Setup = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Setup, Run]] = {}


def command(name: str, setup: Setup) -> Callable[[Run], Run]:
    """Register `run(args) -> exit status` as subcommand `name`; `setup` adds its arguments."""
    def register(run: Run) -> Run:
        COMMANDS[name] = (setup, run)
        return run
    return register


class UsageError(ValueError):
    """Bad input to a subcommand: `optlab` prints it in one line and exits with status 2."""


def fail(message: str) -> int:
    """One line on stderr and exit status 2: the convention for bad input."""
    print(f"optlab: {message}", file=sys.stderr)
    return 2
