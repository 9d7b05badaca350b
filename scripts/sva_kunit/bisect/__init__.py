"""What bisect-step and bisect-selftest need beyond a run: the few git
queries they make of the tree under bisection."""
