"""The run and its verdict: build and boot the suite through the tree's
own kunit.py (UML or QEMU, once or N times), then judge what it left:
kunit.py's JSON results and the raw kernel log."""
