"""sva-kunit: build, run and judge the IOMMU SVA KUnit suite.

The package is laid out like tools/testing/kunit/: one small module per
job, with the unit tests (``*_test.py``) beside the modules, in one
sub-package per concern: ``tree/`` (the kernel tree: cache, packages,
installer, manifest, hooks, journal), ``run/`` (the run and its verdict),
``mutation/`` and ``bisect/``.  On top of them sit the command line
(``cli.py``, ``command.py``), one ``cmd_*.py`` module per subcommand
(``bisect-selftest`` is ``cmd_bisect_selftest.py``), and what several
share: ``errors.py``, ``locks.py``, ``testing_support.py`` and the kept
kernel logs in ``test_data/``.  A test file is named after the module it
tests; ``setup_errors_test.py`` (broken trees, across commands) and
``mutation/mutant_outcome_test.py`` (which also covers ``mutant_report.py``
on the same fake outcomes) span several on purpose.
"""
