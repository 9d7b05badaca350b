"""sva-kunit: build, run and judge the IOMMU SVA KUnit suite.

The package is laid out like tools/testing/kunit/: one small module per
job, with the unit tests (``*_test.py``) beside the modules.  The command
line lives in ``cli.py``; each subcommand is a ``cmd_*.py`` module
(``bisect-selftest`` is ``cmd_bisect_selftest.py``).  A test file is named
after the module it tests; ``setup_errors_test.py`` (broken trees, across
commands) and ``mutant_outcome_test.py`` (which also covers
``mutant_report.py`` on the same fake outcomes) span several on purpose.
"""
