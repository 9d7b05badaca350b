"""Mutation testing: the mutant catalogue in mutants/, applying one to a
tree under a journal so a killed run is repaired, and classifying and
reporting each mutant's run as killed or survived."""
