"""`sva-kunit check`: the project's whole test command.

Six parts, each printed as a section: the harness's own unit tests,
checkpatch.pl on every .c/.h file (one test per file), the KUnit suite on
UML through the same code path as `run` (one test per KUnit test case,
plus one for the kernel-log verdict), the same suite on arm64 under QEMU,
the mutation catalogue (one test per mutant: killed, or a known survivor)
and the git-bisect self-test (one test).  The last line is always "N passed, N failed" so CI can read it.
"""

import argparse
import os
import unittest
from dataclasses import dataclass, replace
from typing import Callable, Optional, TextIO

from . import (bisect_selftest, checkpatch, cmd_mutate, mutant_report,
               mutants)
from .command import Subcommand, add_cache_dir
from .errors import EXIT_FAILED, EXIT_OK, SetupError
from .suite_run import RunOptions, resolve_tree, run_suite, sync_payload

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
SCRIPTS_DIR = os.path.dirname(PACKAGE_DIR)


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, ok: bool, skipped: bool = False) -> None:
        if skipped:
            self.skipped += 1
        elif ok:
            self.passed += 1
        else:
            self.failed += 1

    def closing_line(self) -> str:
        line = f'{self.passed} passed, {self.failed} failed'
        return line + (f', {self.skipped} skipped' if self.skipped else '')


def section(out: TextIO, title: str) -> None:
    out.write(f'\n=== {title} ===\n')
    out.flush()


def run_unit_tests(out: TextIO, tally: Tally) -> None:
    loader = unittest.TestLoader()
    suite = loader.discover(start_dir=PACKAGE_DIR, pattern='*_test.py',
                            top_level_dir=SCRIPTS_DIR)
    result = unittest.TextTestRunner(stream=out, verbosity=1).run(suite)
    failed = (len(result.failures) + len(result.errors)
              + len(result.unexpectedSuccesses))
    tally.passed += result.testsRun - failed
    tally.failed += failed


def run_checkpatch_part(tree: str, repo_root: str, out: TextIO,
                        tally: Tally) -> None:
    files = checkpatch.c_sources(repo_root)
    if not files:
        out.write('no .c/.h files found\n')
    for path in files:
        result = checkpatch.run_checkpatch(tree, repo_root, path)
        tally.add(result.passed)
        out.write(f'{"PASS" if result.passed else "FAIL"} {path}\n')
        if not result.passed:
            out.write(''.join(f'    {line}\n'
                              for line in result.output.splitlines()))


def run_kunit_part(options: RunOptions, tree: str, out: TextIO,
                   tally: Tally) -> None:
    if options.arch != 'um':
        # Installs the cross compiler and QEMU when they are missing.
        resolve_tree(options, out)
    sync_payload(tree, options.repo_root, out)
    outcome = run_suite(options, out, tree=tree)
    if outcome.verdict is None or not outcome.verdict.tests:
        tally.add(False)  # the suite never produced results
    else:
        for test in outcome.verdict.tests:
            tally.add(test.passed, test.skipped)
            if not test.passed:
                out.write(f'FAIL {test.name}\n')
        tally.add(outcome.verdict.log_clean)
    for line in outcome.details:
        out.write(f'  {line}\n')
    out.write(f'{outcome.summary}\n')


def run_mutation_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    # A deadlocking mutant must not hang the check: it counts as killed.
    options = replace(options, timeout=cmd_mutate.DEFAULT_TIMEOUT_S)
    with cmd_mutate.sigterm_as_interrupt():
        _, baseline_s, results = cmd_mutate.mutate_all((), options, out)
    for line in mutant_report.table(results):
        out.write(line + '\n')
    out.write(mutant_report.summary_line(results, baseline_s) + '\n')
    for result in results:
        tally.add(result.ok)


def run_bisect_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    code = bisect_selftest.run_selftest(bisect_selftest.SelftestOptions(
        cache_dir=options.cache_dir, repo_root=options.repo_root), out)
    tally.add(code == EXIT_OK)


def _setup_failed(out: TextIO, tally: Tally, error: SetupError) -> None:
    """A setup problem counts as one failed test in its part."""
    out.write(error.one_line() + '\n')
    tally.add(False)


def _part(out: TextIO, tally: Tally, title: str,
          run: Callable[[], None]) -> None:
    section(out, title)
    try:
        run()
    except SetupError as e:
        _setup_failed(out, tally, e)


def handle(args: argparse.Namespace, out: TextIO) -> int:
    tally = Tally()
    section(out, 'unit tests (scripts/sva_kunit)')
    run_unit_tests(out, tally)

    options = RunOptions(cache_dir=args.cache_dir, repo_root=args.repo_root)
    section(out, 'checkpatch.pl --strict')
    tree: Optional[str] = None
    try:
        tree = resolve_tree(options, out)
    except SetupError as e:
        _setup_failed(out, tally, e)
    if tree is not None:
        run_checkpatch_part(tree, args.repo_root, out, tally)

    if not args.skip_kunit:
        section(out, 'KUnit suite on UML')
        if tree is None:
            out.write('skipped: no kernel tree (see above)\n')
            tally.add(False)
        else:
            try:
                run_kunit_part(options, tree, out, tally)
            except SetupError as e:
                _setup_failed(out, tally, e)

    if not args.skip_kunit and not args.skip_arm64 and tree is not None:
        _part(out, tally, 'KUnit suite on arm64 under QEMU',
              lambda: run_kunit_part(replace(options, arch='arm64'), tree,
                                     out, tally))
    if not args.skip_kunit and not args.skip_mutants:
        _part(out, tally, 'mutation testing (mutants/)',
              lambda: run_mutation_part(options, out, tally))
    if not args.skip_kunit and not args.skip_bisect:
        _part(out, tally, 'git bisect run self-test',
              lambda: run_bisect_part(options, out, tally))

    out.write(f'\n{tally.closing_line()}\n')
    return EXIT_OK if tally.failed == 0 else EXIT_FAILED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cache_dir(parser)
    parser.add_argument('--skip-kunit', action='store_true',
                        help='only the unit tests and checkpatch')
    parser.add_argument('--skip-arm64', action='store_true',
                        help='leave out the suite on arm64 under QEMU')
    parser.add_argument('--skip-mutants', action='store_true',
                        help='leave out the mutation catalogue')
    parser.add_argument('--skip-bisect', action='store_true',
                        help='leave out the git bisect self-test')


CHECK = Subcommand('check', "the project's test command: unit tests, "
                   'checkpatch, the KUnit suite, the mutation catalogue and '
                   'the bisect self-test; last line "N passed, N failed"',
                   add_arguments, handle)

