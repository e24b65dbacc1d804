"""The result store: SQLite in the output folder, one transaction per finished run, written by the driver."""
from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable

RUN_COLUMNS = ["run_id", "experiment", "problem", "problem_params", "n", "optimizer", "optimizer_params",
               "label", "seed", "scale", "status", "reason", "message", "nit", "nfev", "ngev", "nhvp", "nhess",
               "oracle_seconds", "wall_seconds", "f0", "f_final", "gnorm_final", "f_star", "config_hash",
               "versions", "finished_at", "metrics"]
TRACE_COLUMNS = ["run_id", "iter", "f", "gnorm", "nfev", "ngev", "nhvp", "nhess", "seconds"]
_JSON = {"problem_params", "optimizer_params", "versions", "metrics"}

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs ({", ".join(c + (" TEXT PRIMARY KEY" if c == "run_id" else "") for c in RUN_COLUMNS)});
CREATE TABLE IF NOT EXISTS traces ({", ".join(TRACE_COLUMNS)}, PRIMARY KEY (run_id, iter));
"""


class Store:
    """runs (one row per finished run) and traces (one row per iteration) in `<dir>/results.sqlite`."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / "results.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        have = {row[1] for row in self.db.execute("PRAGMA table_info(runs)")}
        for column in RUN_COLUMNS:  # a store written before a column was added gets it, empty
            if column not in have:
                self.db.execute(f"ALTER TABLE runs ADD COLUMN {column}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def finished_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT run_id FROM runs")}

    def write(self, run: dict[str, Any], trace: Iterable[dict[str, Any]]) -> None:
        """Store one finished run and its trace atomically: after a crash it is there whole or not at all."""
        row = [json.dumps(run.get(c), sort_keys=True) if c in _JSON else run.get(c) for c in RUN_COLUMNS]
        with self.db:
            self.db.execute(f"INSERT OR REPLACE INTO runs VALUES ({', '.join('?' * len(RUN_COLUMNS))})", row)
            self.db.execute("DELETE FROM traces WHERE run_id = ?", (run["run_id"],))
            self.db.executemany(f"INSERT INTO traces VALUES ({', '.join('?' * len(TRACE_COLUMNS))})",
                                [[run["run_id"]] + [t.get(c) for c in TRACE_COLUMNS[1:]] for t in trace])

    def runs(self) -> list[dict[str, Any]]:
        cursor = self.db.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs ORDER BY problem, label, scale, seed")
        return [{c: (json.loads(v) if c in _JSON and v is not None else v) for c, v in zip(RUN_COLUMNS, row)}
                for row in cursor]

    def trace(self, run_id: str) -> list[dict[str, Any]]:
        cursor = self.db.execute(f"SELECT {', '.join(TRACE_COLUMNS)} FROM traces WHERE run_id = ? ORDER BY iter",
                                 (run_id,))
        return [dict(zip(TRACE_COLUMNS, row)) for row in cursor]

    def export_csv(self, directory: str | Path) -> list[Path]:
        """Tidy CSV: runs.csv (one row per run) and traces.csv (one row per iteration)."""
        directory = Path(directory)
        out = []
        for table, columns in (("runs", RUN_COLUMNS), ("traces", TRACE_COLUMNS)):
            path = directory / f"{table}.csv"
            with path.open("w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(columns)
                writer.writerows(self.db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY run_id"))
            out.append(path)
        return out
