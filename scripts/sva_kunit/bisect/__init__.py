"""The git calls that bisect-step, its self-test and the series share."""
