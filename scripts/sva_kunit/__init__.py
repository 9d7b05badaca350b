"""sva-kunit: build, run and judge the IOMMU SVA KUnit suite.

The package is laid out like tools/testing/kunit/: one small module per
job, with the unit tests (``*_test.py``) beside the modules.  The command
line lives in ``cli.py``; each subcommand is a ``cmd_*.py`` module, but
for ``bisect-selftest`` (``bisect_selftest.py``).
"""
