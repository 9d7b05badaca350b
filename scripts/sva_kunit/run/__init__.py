"""Build and boot the suite through the tree's kunit.py; judge the run."""
