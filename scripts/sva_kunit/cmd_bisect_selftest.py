"""`sva-kunit bisect-selftest`: make a git history with a planted bug on a
fresh Debian tree and check that `git bisect run ... bisect-step` names
exactly the bug commit (bisect/selftest.py)."""

import argparse
from typing import TextIO

from .bisect.selftest import SelftestOptions, run_selftest
from .command import Subcommand, add_cache_dir, add_source
from .run.suite_run import RunOptions, check_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cache_dir(parser)
    add_source(parser)
    parser.add_argument('--keep', action='store_true',
                        help='keep the scratch repository and build dir')


def handle(args: argparse.Namespace, out: TextIO) -> int:
    check_options(RunOptions(cache_dir=args.cache_dir))  # it builds there
    return run_selftest(SelftestOptions(args.cache_dir, args.repo_root,
                                        args.keep, source=args.source), out)


BISECT_SELFTEST = Subcommand(
    'bisect-selftest', 'make a kernel git history with a planted bug and '
    'check that git bisect run with bisect-step finds it; last line '
    '"bisect-selftest: PASS|FAIL ..."', add_arguments, handle)
