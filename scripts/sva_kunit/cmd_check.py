"""`sva-kunit check`: the project's whole test command.

Parts, each printed as a section with the time it took: the harness's
own unit tests; checkpatch.pl on every .c/.h file (one test per file);
for each Debian tree (7.3, 6.12) the KUnit suite on UML through the same
code path as `run` (one test per KUnit result, plus one for the
kernel-log verdict); on 7.3 the same suite on arm64 and x86_64 under
QEMU; on 7.3 the upstream series (see upstream/check_series.py: one
test per step and per patch); for each tree the mutation catalogue written for it (one test per
mutant: killed, or a known survivor); and the git-bisect self-test on
6.12 (one test).  The last line is always "N passed, N failed" so CI can
read it."""

import argparse
import os
import time
import unittest
from dataclasses import dataclass, replace
from typing import Callable, TextIO

from . import cmd_bisect_selftest, cmd_mutate
from .command import Subcommand, add_cache_dir
from .errors import EXIT_FAILED, EXIT_OK, SetupError
from .mutation import mutant_report
from .run.suite_run import RunOptions, resolve_tree, run_suite, sync_payload
from .tree import checkpatch, kernel_sources
from .upstream import check_series

# Every Debian tree the suite supports runs on UML and through the
# mutation catalogue; the newest also under QEMU; the bisect self-test
# runs once, on the tree that builds fastest.
CHECKED_SOURCES = ('7.3', '6.12')
QEMU_SOURCE = '7.3'
BISECT_SOURCE = '6.12'

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


def run_kunit_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    # Also installs the cross compiler and QEMU when they are missing.
    tree = resolve_tree(options, out)
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
    # A deadlocking mutant must not hang the check: the time limit stops
    # it, and the log's evidence decides whether it was killed.
    options = replace(options, timeout=cmd_mutate.DEFAULT_TIMEOUT_S)
    with cmd_mutate.sigterm_as_interrupt():
        _, baseline_s, results = cmd_mutate.mutate_all((), options, out)
    for line in mutant_report.table(results):
        out.write(line + '\n')
    out.write(mutant_report.summary_line(results, baseline_s) + '\n')
    for result in results:
        tally.add(result.ok)


def run_bisect_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    selftest_options = cmd_bisect_selftest.SelftestOptions(
        cache_dir=options.cache_dir, repo_root=options.repo_root,
        source=options.source)
    code = cmd_bisect_selftest.run_selftest(selftest_options, out)
    tally.add(code == EXIT_OK)


def run_series_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    def record(name: str, ok: bool) -> None:
        tally.add(ok)
        out.write(f'{"PASS" if ok else "FAIL"} {name}\n')
    check_series.run_series_check(check_series.SeriesCheckOptions(
        cache_dir=options.cache_dir, repo_root=options.repo_root,
        jobs=options.jobs, use_ccache=options.use_ccache), out, record)


def _setup_failed(out: TextIO, tally: Tally, error: SetupError) -> None:
    """A setup problem counts as one failed test in its part."""
    out.write(error.one_line() + '\n')
    tally.add(False)


def _part(out: TextIO, tally: Tally, title: str,
          run: Callable[[], None]) -> None:
    section(out, title)
    started = time.monotonic()
    try:
        run()
    except SetupError as e:
        _setup_failed(out, tally, e)
    out.write(f'({title}: {time.monotonic() - started:.0f} s)\n')


QEMU_SMP = '-smp 2'


def handle(args: argparse.Namespace, out: TextIO) -> int:
    tally = Tally()
    section(out, 'unit tests (scripts/sva_kunit)')
    run_unit_tests(out, tally)

    sources = args.source or list(CHECKED_SOURCES)
    options = RunOptions(cache_dir=args.cache_dir, repo_root=args.repo_root,
                         source=sources[0])
    on = {source: replace(options, source=source) for source in sources}

    def checkpatch_part() -> None:
        # The suite's parts need the whole tree anyway; checkpatch alone
        # needs only a few files of it.
        tree = (checkpatch.checkpatch_tree(args.cache_dir, options.source,
                                           out) if args.skip_kunit
                else resolve_tree(options, out))
        run_checkpatch_part(tree, args.repo_root, out, tally)
    _part(out, tally, f'checkpatch.pl --strict (Linux {sources[0]})',
          checkpatch_part)
    if args.skip_kunit:
        out.write(f'\n{tally.closing_line()}\n')
        return EXIT_OK if tally.failed == 0 else EXIT_FAILED

    for source in sources:
        _part(out, tally, f'KUnit suite on UML, Linux {source}',
              lambda o=on[source]: run_kunit_part(o, out, tally))
    qemu = [(arch, skip) for arch, skip in (('arm64', args.skip_arm64),
                                            ('x86_64', args.skip_x86_64))
            if not skip and QEMU_SOURCE in on]
    # Two CPUs, so that the race case's threads run in parallel there
    # (on UML they only interleave).
    for arch, _ in qemu:
        _part(out, tally, f'KUnit suite on {arch} under QEMU ({QEMU_SMP}), '
              f'Linux {QEMU_SOURCE}', lambda a=arch: run_kunit_part(
                  replace(on[QEMU_SOURCE], arch=a, qemu_args=[QEMU_SMP]),
                  out, tally))
    if not args.skip_series and check_series.SOURCE in on:
        _part(out, tally, f'upstream series: format-patch, git am, '
              f'checkpatch, get_maintainer, a build per patch, a module '
              f'build, plain kunit.py (Linux {check_series.SOURCE})',
              lambda: run_series_part(on[check_series.SOURCE], out, tally))
    if not args.skip_mutants:
        for source in sources:
            _part(out, tally, f'mutation testing (mutants/), Linux {source}',
                  lambda o=on[source]: run_mutation_part(o, out, tally))
    if not args.skip_bisect:
        bisect_on = on.get(BISECT_SOURCE, on[sources[0]])
        _part(out, tally, f'git bisect run self-test, Linux '
              f'{bisect_on.source}',
              lambda: run_bisect_part(bisect_on, out, tally))

    out.write(f'\n{tally.closing_line()}\n')
    return EXIT_OK if tally.failed == 0 else EXIT_FAILED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cache_dir(parser)
    parser.add_argument('--skip-kunit', action='store_true',
                        help='only the unit tests and checkpatch')
    parser.add_argument('--source', type=kernel_sources.source_version,
                        action='append', default=[], metavar='VERSION',
                        help='check only this Debian kernel tree (repeatable;'
                        ' default: ' + ' and '.join(CHECKED_SOURCES) + ')')
    parser.add_argument('--skip-arm64', action='store_true',
                        help='leave out the suite on arm64 under QEMU')
    parser.add_argument('--skip-x86_64', action='store_true',
                        help='leave out the suite on x86_64 under QEMU')
    parser.add_argument('--skip-series', action='store_true',
                        help='leave out the upstream series check')
    parser.add_argument('--skip-mutants', action='store_true',
                        help='leave out the mutation catalogue')
    parser.add_argument('--skip-bisect', action='store_true',
                        help='leave out the git bisect self-test')


CHECK = Subcommand('check', "the project's test command: unit tests, "
                   'checkpatch, the KUnit suite, the upstream series, the '
                   'mutation catalogue and '
                   'the bisect self-test; last line "N passed, N failed"',
                   add_arguments, handle)

