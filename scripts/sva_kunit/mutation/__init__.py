"""Mutation testing: the mutant catalogue, its journal, its results."""
