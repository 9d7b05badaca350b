"""Build and boot the suite through the tree's own kunit.py, and judge
the run: kunit.py's results and the raw kernel log."""
