"""Analyses: pure functions from a model (or Spec) to numbers. They never print."""
