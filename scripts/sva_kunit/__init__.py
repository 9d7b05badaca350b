"""sva-kunit: build, run and judge the IOMMU SVA KUnit suite.

The package is laid out like tools/testing/kunit/: one small module per
job, with a unit-test module (``*_test.py``) beside each.  The command
line lives in ``cli.py``; each subcommand is a ``cmd_*.py`` module.
"""
