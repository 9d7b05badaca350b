"""`sva-kunit check`: the project's whole test command, one section per
part with the time it took (README, "What CI runs").  The last line is
always "N passed, N failed" so CI can read it."""

import argparse
import os
import time
import unittest
from dataclasses import dataclass, replace
from typing import TextIO

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
# Two CPUs, so that the race case's threads run in parallel under QEMU
# (on UML they only interleave).
QEMU_SMP = '-smp 2'
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, ok: bool, skipped: bool = False) -> None:
        kind = 'skipped' if skipped else 'passed' if ok else 'failed'
        setattr(self, kind, getattr(self, kind) + 1)

    def record(self, out: TextIO, name: str, ok: bool) -> None:
        self.add(ok)
        out.write(f'{"PASS" if ok else "FAIL"} {name}\n')

    def closing_line(self) -> str:
        line = f'{self.passed} passed, {self.failed} failed'
        return line + (f', {self.skipped} skipped' if self.skipped else '')


def run_unit_tests(out: TextIO, tally: Tally) -> None:
    suite = unittest.TestLoader().discover(
        start_dir=PACKAGE_DIR, pattern='*_test.py',
        top_level_dir=os.path.dirname(PACKAGE_DIR))
    result = unittest.TextTestRunner(stream=out, verbosity=1).run(suite)
    failed = (len(result.failures) + len(result.errors)
              + len(result.unexpectedSuccesses))
    tally.passed += result.testsRun - failed
    tally.failed += failed


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
    code = cmd_bisect_selftest.run_selftest(
        cmd_bisect_selftest.SelftestOptions(cache_dir=options.cache_dir,
                                            repo_root=options.repo_root,
                                            source=options.source), out)
    tally.add(code == EXIT_OK)


def run_series_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    check_series.run_series_check(
        options, out, lambda name, ok: tally.record(out, name, ok))


def handle(args: argparse.Namespace, out: TextIO) -> int:
    tally = Tally()
    out.write('\n=== unit tests (scripts/sva_kunit) ===\n')
    run_unit_tests(out, tally)

    sources = args.source or list(CHECKED_SOURCES)
    on = {source: RunOptions(cache_dir=args.cache_dir,
                             repo_root=args.repo_root, source=source)
          for source in sources}
    first = on[sources[0]]

    def checkpatch_part(options: RunOptions, out: TextIO,
                        tally: Tally) -> None:
        # The suite's parts need the whole tree anyway; checkpatch alone
        # needs only a few files of it.
        tree = (checkpatch.checkpatch_tree(args.cache_dir, options.source,
                                           out) if args.skip_kunit
                else resolve_tree(options, out))
        files = checkpatch.c_sources(args.repo_root)
        if not files:
            out.write('no .c/.h files found\n')
        for path in files:
            result = checkpatch.run_checkpatch(tree, args.repo_root, path)
            tally.record(out, path, result.passed)
            if not result.passed:
                out.write(''.join(f'    {line}\n'
                                  for line in result.output.splitlines()))
    parts = [(f'checkpatch.pl --strict (Linux {first.source})',
              checkpatch_part, first)]
    if not args.skip_kunit:
        parts += [(f'KUnit suite on UML, Linux {source}', run_kunit_part,
                   on[source]) for source in sources]
        parts += [(f'KUnit suite on {arch} under QEMU ({QEMU_SMP}), Linux '
                   f'{QEMU_SOURCE}', run_kunit_part, replace(
                       on[QEMU_SOURCE], arch=arch, qemu_args=[QEMU_SMP]))
                  for arch in ('arm64', 'x86_64')
                  if not getattr(args, f'skip_{arch}') and QEMU_SOURCE in on]
        if not args.skip_series and check_series.SOURCE in on:
            parts.append((
                'upstream series: format-patch, git am, checkpatch, '
                'get_maintainer, a build per patch, a module build, plain '
                f'kunit.py (Linux {check_series.SOURCE})', run_series_part,
                on[check_series.SOURCE]))
        if not args.skip_mutants:
            parts += [(f'mutation testing (mutants/), Linux {source}',
                       run_mutation_part, on[source]) for source in sources]
        if not args.skip_bisect:
            bisect_on = on.get(BISECT_SOURCE, first)
            parts.append((f'git bisect run self-test, Linux '
                          f'{bisect_on.source}', run_bisect_part, bisect_on))
    for title, run, options in parts:
        out.write(f'\n=== {title} ===\n')
        out.flush()
        started = time.monotonic()
        try:
            run(options, out, tally)
        except SetupError as e:
            # A setup problem counts as one failed test in its part.
            out.write(e.one_line() + '\n')
            tally.add(False)
        out.write(f'({title}: {time.monotonic() - started:.0f} s)\n')
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
    for part, what in (('arm64', 'the suite on arm64 under QEMU'),
                       ('x86_64', 'the suite on x86_64 under QEMU'),
                       ('series', 'the upstream series check'),
                       ('mutants', 'the mutation catalogue'),
                       ('bisect', 'the git bisect self-test')):
        parser.add_argument(f'--skip-{part}', action='store_true',
                            help=f'leave out {what}')


CHECK = Subcommand('check', "the project's test command: unit tests, "
                   'checkpatch, the KUnit suite, the upstream series, the '
                   'mutation catalogue and the bisect self-test; last line '
                   '"N passed, N failed"', add_arguments, handle)

