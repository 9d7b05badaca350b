"""`sva-kunit run --repeat=N`: build once, boot N times, count failures.

A flaky test (a race, a report that depends on timing) fails only now
and then, so one run says little.  The first run is a normal `kunit.py
run` (configure, build, boot); the other N-1 boot the kernel it built
with `kunit.py exec` and the same options.  Each run is judged exactly
like a single `run` (suite_run.run_suite: KUnit's results and the kernel
log); the raw kernel log of every failed run is kept in
<build dir>/repeat-logs/, and a table gives, for each test, in how many
of the N runs it failed.  Any failure in any run fails the command.
"""

import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, TextIO, Tuple

from ..errors import EXIT_FAILED, EXIT_OK
from .kunit_runner import EXEC, RUN, test_log_path
from .suite_run import (RunOptions, RunOutcome, resolve_tree, run_suite,
                        sync_payload)

LOG_DIR = 'repeat-logs'
IN_NO_TEST = '(kernel log: a report in no test)'
NO_RESULTS = '(no test results: build, boot or crash)'
ROW_WORDS = {IN_NO_TEST: 'a kernel-log report in no test',
             NO_RESULTS: 'no test results'}


@dataclass
class Tally:
    failed: int = 0
    not_run: int = 0   # runs with results, but none for this test


@dataclass
class RepeatOutcome:
    exit_code: int
    summary: str
    count: int                      # runs asked for
    tallies: Dict[str, Tally] = field(default_factory=dict)


def tally_runs(runs: Sequence[RunOutcome]) -> Dict[str, Tally]:
    """Per test, in how many runs it failed (or had no result); then the
    two rows for failures no test owns, when there were any."""
    names: Dict[str, None] = {}
    for run in runs:
        for test in run.verdict.tests if run.verdict else ():
            names.setdefault(test.name)
    tallies = {name: Tally() for name in names}
    in_no_test = no_results = 0
    for run in runs:
        verdict = run.verdict
        if verdict is None or not verdict.tests:
            no_results += 1
            continue
        seen = set()
        owned = set()
        for test in verdict.tests:
            seen.add(test.name)
            owned.update(id(r) for r in test.reports)
            if not test.passed:
                tallies[test.name].failed += 1
        for name in names:
            if name not in seen:
                tallies[name].not_run += 1
        if any(id(r) not in owned for r in verdict.reports):
            in_no_test += 1
    if in_no_test:
        tallies[IN_NO_TEST] = Tally(in_no_test)
    if no_results:
        tallies[NO_RESULTS] = Tally(no_results)
    return tallies


def format_table(tallies: Dict[str, Tally], count: int) -> List[str]:
    rows: List[Tuple[str, str]] = [('test', f'failed/{count}')]
    for name, t in tallies.items():
        cell = f'{t.failed}/{count}'
        if t.not_run:
            cell += f' (no result in {t.not_run})'
        rows.append((name, cell))
    width = max(len(name) for name, _ in rows)
    return [f'{name.ljust(width)}  {cell}' for name, cell in rows]


def summary_line(runs: Sequence[RunOutcome], count: int,
                 tallies: Dict[str, Tally], log_dir: str) -> str:
    """The closing line; log_dir is where failed runs' logs are ('' when
    none was kept)."""
    failed_runs = [r for r in runs if r.exit_code != EXIT_OK]
    if not failed_runs:
        tests = len(runs[-1].verdict.tests) if runs[-1].verdict else 0
        return (f'PASS: all {count} runs passed ({tests} tests each); '
                'kernel log clean every time')
    parts = [f'{len(failed_runs)} of {count} runs failed']
    bad = [(name, t.failed) for name, t in tallies.items()
           if t.failed and name not in ROW_WORDS]
    if bad:
        shown = ', '.join(f'{name} {n}/{count}' for name, n in bad[:5])
        more = f', and {len(bad) - 5} more' if len(bad) > 5 else ''
        parts.append(f'failed: {shown}{more}')
    parts.extend(f'{words} in {tallies[name].failed}/{count}'
                 for name, words in ROW_WORDS.items() if name in tallies)
    if log_dir:
        parts.append(f'raw logs of the failed runs in {log_dir}')
    return 'FAIL: ' + '; '.join(parts)


def _keep_log(outcome: RunOutcome, dest: str, since: float
              ) -> Optional[str]:
    """Copy this run's test.log before the next run overwrites it."""
    if not outcome.kunit.kernel_ran:
        return None  # the test.log there is an earlier run's
    src = test_log_path(outcome.build_dir)
    try:
        if os.stat(src).st_mtime < since - 1:
            return None  # the kernel never wrote one this time
        shutil.copyfile(src, dest)
    except OSError:
        return None
    return dest


def run_repeated(options: RunOptions, count: int, out: TextIO,
                 env: Optional[Mapping[str, str]] = None) -> RepeatOutcome:
    """Build and run once, boot count-1 more times; judge every run."""
    tree = resolve_tree(options, out)
    sync_payload(tree, options.repo_root, out)
    runs: List[RunOutcome] = []
    log_dir = ''
    kept = 0
    for index in range(1, count + 1):
        out.write(f'sva-kunit: run {index} of {count}\n')
        out.flush()
        started = time.time()
        outcome = run_suite(options, out, env, tree=tree,
                            subcommand=RUN if index == 1 else EXEC)
        runs.append(outcome)
        if index == 1:
            log_dir = os.path.join(outcome.build_dir, LOG_DIR)
            shutil.rmtree(log_dir, ignore_errors=True)  # an earlier --repeat
            os.makedirs(log_dir)
        for line in outcome.details:
            out.write(f'sva-kunit:   {line}\n')
        line = f'sva-kunit: run {index} of {count}: {outcome.summary}'
        if outcome.exit_code != EXIT_OK:
            path = _keep_log(outcome, os.path.join(
                log_dir, f'run-{index}.test.log'), started)
            if path:
                kept += 1
                line += f'; raw log: {path}'
        out.write(line + '\n')
        out.flush()
        if index == 1 and not outcome.kunit.kernel_ran:
            # Nothing was built to boot again: that is the answer.
            return RepeatOutcome(outcome.exit_code, outcome.summary +
                                 '; nothing repeated', count)
    tallies = tally_runs(runs)
    code = EXIT_OK if all(r.exit_code == EXIT_OK for r in runs) \
        else EXIT_FAILED
    return RepeatOutcome(code, summary_line(runs, count, tallies,
                                            log_dir if kept else ''),
                         count, tallies)


def report(outcome: RepeatOutcome, out: TextIO) -> None:
    """The per-test table (if any run produced results) and the summary."""
    if outcome.tallies:
        out.write('\n')
        for line in format_table(outcome.tallies, outcome.count):
            out.write(line + '\n')
    out.write(f'sva-kunit: {outcome.summary}\n')
