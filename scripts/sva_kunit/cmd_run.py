"""`sva-kunit run`: build and run the suite, then judge the kernel log
(with --repeat, see repeat_run.py)."""

import argparse
import re
from typing import TextIO

from . import locks
from .command import (Subcommand, add_build_options, add_cache_dir, add_kernel,
                      positive_int)
from .run.repeat_run import report, run_repeated
from .run.suite_run import RunOptions, default_build_dir, run_suite
from .tree.kernel_tree import validate_tree

KCONFIG_OPTION = re.compile(r'^CONFIG_[A-Za-z0-9_]+=.+$')


def kconfig_option(text: str) -> str:
    if not KCONFIG_OPTION.match(text):
        raise argparse.ArgumentTypeError(f'{text!r} is not of the form '
                                         'CONFIG_X=y')
    return text


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with `bench`, which must run the same configuration."""
    add_kernel(parser, required=False)
    add_cache_dir(parser)
    parser.add_argument('--kconfig-add', metavar='CONFIG_X=Y',
                        action='append', default=[], type=kconfig_option,
                        help='extra Kconfig option for the test kernel '
                        '(repeatable), e.g. CONFIG_KASAN=y')
    # No `choices`: an unsupported arch deserves its own explanation.
    parser.add_argument('--arch', default='um',
                        help='um (default), or arm64 / x86_64 under QEMU')
    parser.add_argument('--qemu-args', metavar='ARGS', action='append',
                        default=[], help="extra QEMU arguments for arm64 / "
                        "x86_64, e.g. '-smp 2' (kunit.py's --qemu_args)")
    add_build_options(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument('--build-dir', metavar='DIR',
                        help='kunit.py build directory (default: one per '
                        'tree under the cache dir)')
    parser.add_argument('--filter', default='', metavar='GLOB',
                        help='run only matching tests, e.g. '
                        "'iommu_sva*.bind*' (kunit.py's filter_glob)")
    parser.add_argument('--json', metavar='FILE',
                        help="also keep kunit.py's JSON results in FILE")
    parser.add_argument('--kernel-arg', metavar='ARG', action='append',
                        default=[], dest='kernel_args',
                        help='extra kernel command line argument '
                        '(repeatable), e.g. '
                        'iommu_sva_model_test.soak_seeds=10000')
    parser.add_argument('--run-timeout', metavar='SECONDS', type=int,
                        help="kunit.py's limit for the tests to run "
                        '(its --timeout; its default is 300 s), for long '
                        'soaks')
    parser.add_argument('--repeat', metavar='N', type=positive_int,
                        help='build once, boot the kernel N times and '
                        'report per test in how many runs it failed')


def options_from(args: argparse.Namespace) -> RunOptions:
    return RunOptions(cache_dir=args.cache_dir, kernel=args.kernel,
                      source=args.source,
                      build_dir=getattr(args, 'build_dir', None),
                      filter_glob=getattr(args, 'filter', ''),
                      kernel_args=getattr(args, 'kernel_args', []),
                      run_timeout=getattr(args, 'run_timeout', None),
                      json_path=getattr(args, 'json', None),
                      kconfig_add=args.kconfig_add, arch=args.arch,
                      qemu_args=args.qemu_args,
                      jobs=args.jobs, use_ccache=args.use_ccache,
                      repo_root=args.repo_root)


def hold_locks(options: RunOptions, out: TextIO) -> None:
    """Lock --kernel's tree, then its build dir, before anything uses
    them (a cached tree is locked once resolve_tree has found it)."""
    if options.kernel is None:
        if options.build_dir:
            options.build_dir = locks.make_build_dir(options.build_dir)
        return
    tree = validate_tree(options.kernel)
    locks.hold_tree(tree, options.cache_dir, out)
    options.build_dir = locks.hold_build_dir(
        options.build_dir or default_build_dir(options, tree), out)


def handle(args: argparse.Namespace, out: TextIO) -> int:
    options = options_from(args)
    hold_locks(options, out)
    if args.repeat is not None:
        repeated = run_repeated(options, args.repeat, out)
        report(repeated, out)
        return repeated.exit_code
    outcome = run_suite(options, out)
    for line in outcome.details:
        out.write(f'sva-kunit:   {line}\n')
    out.write(f'sva-kunit: {outcome.summary}\n')
    return outcome.exit_code


RUN = Subcommand('run', 'build the suite into a kernel tree and run it on '
                 'UML (or QEMU); exit 0 passed, 1 failed, 2 setup error',
                 add_arguments, handle)
