"""Use cases: Spec -> Report (count, inspect, rf, sweep, solve, check); they never print."""
