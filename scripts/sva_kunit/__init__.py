"""sva-kunit: build, run and judge the IOMMU SVA KUnit suite.

Laid out like tools/testing/kunit/, with the unit tests (``*_test.py``)
beside the modules, one sub-package per concern: ``tree/`` (getting a
kernel tree, putting the suite into it and taking it out again, with a
journal that survives a kill), ``run/`` (running kunit.py and judging
its kernel log) and ``mutation/`` (the mutant catalogue and its report).
On top of them sit the command line (``cli.py``, ``command.py``) and one
``cmd_*.py`` module per subcommand.  ``testing_support.py`` holds the
fakes the tests share; ``test_data/`` the kernel logs they judge, and
``upstream/`` the texts of the patch series.
"""
