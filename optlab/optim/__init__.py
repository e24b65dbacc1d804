"""Shared pieces of optimizers: the counting oracle, the Optimizer base and loop, line searches, CG, trust regions."""
