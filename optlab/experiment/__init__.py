"""Experiments from YAML: config, grid, runner, executors, store, reports."""
