"""`sva-kunit run`: build and run the suite, then judge the kernel log;
with --repeat=N, build once, boot N times and count failures per test."""

import argparse
import os
import shutil
from typing import Dict, List, NamedTuple, Sequence, TextIO

from .columns import align
from .command import (Subcommand, add_run_arguments, directory, glob_filter,
                      kernel_arg, options_from, output_file, positive_int,
                      whole_seconds)
from .errors import EXIT_FAILED, EXIT_OK
from .locks import sigterm_as_interrupt
from .run.kunit_runner import test_log_path
from .run.suite_run import (RunOptions, RunOutcome, check_options,
                            hold_locks, resolve_tree, run_suite,
                            sync_payload)

IN_NO_TEST = '(kernel log: a report in no test)'
NO_RESULTS = '(no test results: build, boot or crash)'
ROW_WORDS = {IN_NO_TEST: 'a kernel-log report in no test',
             NO_RESULTS: 'no test results'}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument('--build-dir', metavar='DIR', type=directory,
                        help='kunit.py build directory (default: one per '
                        'tree under the cache dir)')
    parser.add_argument('--filter', default='', metavar='GLOB',
                        dest='filter_glob', type=glob_filter,
                        help="run only matching tests, e.g. "
                        "'iommu_sva*.bind*' (kunit.py's filter_glob)")
    parser.add_argument('--json', metavar='FILE', dest='json_path',
                        type=output_file,
                        help="also keep kunit.py's JSON results in FILE")
    parser.add_argument('--kernel-arg', metavar='ARG', action='append',
                        default=[], dest='kernel_args', type=kernel_arg,
                        help='extra kernel command line argument '
                        '(repeatable), e.g. '
                        'iommu_sva_model_test.soak_seeds=10000')
    parser.add_argument('--run-timeout', metavar='SECONDS',
                        type=whole_seconds,
                        help="kunit.py's limit for the tests to run "
                        '(its --timeout; its default is 300 s), for long '
                        'soaks')
    parser.add_argument('--repeat', metavar='N', type=positive_int,
                        help='build once, boot the kernel N times and '
                        'report per test in how many runs it failed')


class Tally(NamedTuple):
    failed: int
    not_run: int = 0   # runs with results, but none for this test


def tally_runs(runs: Sequence[RunOutcome]) -> Dict[str, Tally]:
    """Per test, in how many runs it failed (or had no result); then rows
    for failures no test owns."""
    judged = [r.verdict for r in runs if r.verdict and r.verdict.tests]
    passed = [{t.name: t.passed for t in v.tests} for v in judged]
    tallies = {name: Tally(sum(not p.get(name, True) for p in passed),
                           sum(name not in p for p in passed))
               for names in passed for name in names}
    # A report belongs to one test at most.
    in_no_test = [v for v in judged
                  if len(v.reports) > sum(len(t.reports) for t in v.tests)]
    rows = {IN_NO_TEST: len(in_no_test), NO_RESULTS: len(runs) - len(judged)}
    tallies.update((name, Tally(n)) for name, n in rows.items() if n)
    return tallies


def format_table(tallies: Dict[str, Tally], count: int) -> List[str]:
    return align([('test', f'failed/{count}')] + [
        (name, f'{t.failed}/{count}' + (f' (no result in {t.not_run})'
                                         if t.not_run else ''))
        for name, t in tallies.items()])


def summary_line(runs: Sequence[RunOutcome], tallies: Dict[str, Tally],
                 log_dir: str) -> str:
    """The closing line; log_dir holds the failed runs' logs ('': none)."""
    count = len(runs)
    failed_runs = [r for r in runs if r.exit_code != EXIT_OK]
    if not failed_runs:  # then each has a verdict
        tests = len(runs[-1].verdict.tests)
        return (f'PASS: all {count} runs passed ({tests} tests each); '
                'kernel log clean every time')
    parts = [f'{len(failed_runs)} of {count} runs failed']
    bad = [f'{name} {t.failed}/{count}' for name, t in tallies.items()
           if t.failed and name not in ROW_WORDS]
    if bad:
        more = f', and {len(bad) - 5} more' if len(bad) > 5 else ''
        parts.append(f'failed: {", ".join(bad[:5])}{more}')
    parts.extend(f'{words} in {tallies[name].failed}/{count}'
                 for name, words in ROW_WORDS.items() if name in tallies)
    if log_dir:
        parts.append(f'raw logs of the failed runs in {log_dir}')
    return 'FAIL: ' + '; '.join(parts)


def run_repeated(options: RunOptions, count: int, out: TextIO) -> int:
    """Build and run once, then only boot (`kunit.py exec`) count-1 times."""
    tree = resolve_tree(options, out)
    sync_payload(tree, options.repo_root, out)
    runs: List[RunOutcome] = []
    for index in range(1, count + 1):
        print(f'sva-kunit: run {index} of {count}', file=out, flush=True)
        outcome = run_suite(options, out, tree=tree, boot_only=index > 1)
        runs.append(outcome)
        log_dir = os.path.join(outcome.build_dir, 'repeat-logs')
        if index == 1:
            shutil.rmtree(log_dir, ignore_errors=True)  # an earlier --repeat
            os.makedirs(log_dir)
        out.writelines(f'sva-kunit:   {line}\n' for line in outcome.details)
        line = f'sva-kunit: run {index} of {count}: {outcome.summary}'
        if outcome.exit_code != EXIT_OK and outcome.verdict is not None:
            # The kernel wrote a test.log this time: keep it.
            dest = os.path.join(log_dir, f'run-{index}.test.log')
            shutil.copyfile(test_log_path(outcome.build_dir), dest)
            line += f'; raw log: {dest}'
        print(line, file=out, flush=True)
        if index == 1 and not outcome.kunit.kernel_ran:
            # Nothing was built to boot again: that is the answer.
            out.write(f'sva-kunit: {outcome.summary}; nothing repeated\n')
            return outcome.exit_code
    tallies = tally_runs(runs)  # never empty
    print('', *format_table(tallies, count), sep='\n', file=out)
    line = summary_line(runs, tallies, log_dir if os.listdir(log_dir) else '')
    out.write(f'sva-kunit: {line}\n')
    return EXIT_FAILED if line.startswith('FAIL') else EXIT_OK


def handle(args: argparse.Namespace, out: TextIO) -> int:
    options = options_from(args)
    check_options(options)
    hold_locks(options, out)
    with sigterm_as_interrupt():  # so kunit.py and UML stop too
        if args.repeat is not None:
            return run_repeated(options, args.repeat, out)
        outcome = run_suite(options, out)
    out.writelines(f'sva-kunit:   {line}\n' for line in outcome.details)
    out.write(f'sva-kunit: {outcome.summary}\n')
    return outcome.exit_code


RUN = Subcommand('run', 'build the suite into a kernel tree and run it on '
                 'UML (or QEMU); exit 0 passed, 1 failed, 2 setup error',
                 add_arguments, handle)
