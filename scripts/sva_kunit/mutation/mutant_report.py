"""What one mutant's run means (killed, survived, or not judged at all),
and how `mutate` shows it: progress lines, table, summary, JSON."""

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from ..columns import align as _align
from ..errors import EXIT_FAILED, EXIT_OK
from ..run.kernel_log import UNFINISHED
from ..run.suite_run import RunOutcome
from .mutants import Mutant

KILLED = 'killed'            # tests failed and/or the kernel log spoke
SURVIVED = 'survived'        # the suite passed with the mutant in
BUILD_ERROR = 'build-error'  # kunit.py could not configure/build it
TIMEOUT = 'timeout'          # the time limit hit, and nothing shows why
NO_RESULT = 'no-result'      # the kernel ran but gave neither a failed
                             # test nor a report: no evidence either way
NO_APPLY = 'no-apply'        # the mutant does not fit the tree's file
HEADINGS = ('mutant', 'invariant', 'result', 'failed tests / sanitizer',
            'seconds')
MAX_TESTS = 2  # failed test names shown per row; the JSON has them all


@dataclass
class MutantResult:
    mutant: Mutant
    result: str
    failed_tests: List[str] = field(default_factory=list)
    sanitizers: List[str] = field(default_factory=list)  # report kinds
    note: str = ''           # 'timeout', 'crashed', a no-apply reason...
    seconds: float = 0.0
    log: str = ''            # kunit.py's output for this mutant

    @property
    def ok(self) -> bool:
        """A mutant killed (or a known survivor); a correct variant that
        the suite passes."""
        if self.mutant.correct:
            return self.result == SURVIVED
        return self.result == KILLED or (self.result == SURVIVED and
                                         bool(self.mutant.survivor))

    @property
    def label(self) -> str:
        if self.mutant.correct:
            return {SURVIVED: 'passes', KILLED: 'FAILS'}.get(
                self.result, self.result) + ' (correct variant)'
        timeout = self.result == KILLED and self.note == 'timeout'
        return (self.result + ' (timeout)' * timeout
                + ' (known survivor)' * bool(self.mutant.survivor))


def classify(mutant: Mutant, outcome: RunOutcome) -> MutantResult:
    run, verdict = outcome.kunit, outcome.verdict
    if not run.kernel_ran:
        # The baseline built, so this is the mutant's doing -- but a
        # mutant that does not compile tells nothing about the suite.
        note = outcome.summary.split(': ', 1)[-1].replace(
            '; see its output above', '')
        return MutantResult(mutant, TIMEOUT if run.timed_out
                            else BUILD_ERROR, note=note)
    # The test a report came from when the log ends inside it (a hang, a
    # crash) has no result line, so it is in no failed list.
    failed = list(dict.fromkeys(
        [t.name for t in verdict.failed_tests]
        + [r.owner for r in verdict.reports if r.where == UNFINISHED]
    )) if verdict else []
    kinds = list(dict.fromkeys(k for r in verdict.reports
                               for k in r.kinds)) if verdict else []
    if run.timed_out:
        # A hang kills the mutant only with evidence that the kernel went
        # wrong: a report (lockdep's splat before a deadlock, a hung task,
        # a soft lockup) or a failed test (KUnit's own timeout).  A test
        # that merely never finished may have been stopped too early.
        if kinds or verdict and verdict.failed_tests:
            return MutantResult(mutant, KILLED, failed, kinds, 'timeout')
        return MutantResult(mutant, TIMEOUT,
                            note='timeout, no evidence in the kernel log')
    if outcome.exit_code == EXIT_OK:
        return MutantResult(mutant, SURVIVED)
    if not (kinds or verdict and verdict.failed_tests):
        # A kernel that could not start, a log with no results and no
        # report: the environment may be at fault, so no kill.
        return MutantResult(mutant, NO_RESULT, note=outcome.summary.split(
            ': ', 1)[-1].replace('; see its output above', ''))
    note = '' if verdict.tests else 'crashed'
    return MutantResult(mutant, KILLED, failed, kinds, note)


def exit_code(results: Sequence[MutantResult]) -> int:
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def list_lines(mutants: Sequence[Mutant]) -> List[str]:
    return _align([(m.name, ','.join(m.invariants), '  '.join(filter(None, (
        m.trees and 'trees ' + ' '.join(m.trees), m.fix and f'fix {m.fix}',
        m.survivor and '(known survivor)',
        m.correct and '(correct variant: must pass)')))) for m in mutants],
        False)


def evidence(result: MutantResult) -> str:
    """The "failed tests / sanitizer" cell."""
    more = len(result.failed_tests) - MAX_TESTS
    note = ' '.join(result.note.split())
    if result.result == KILLED and note == 'timeout':
        note = ''  # the label already says "killed (timeout)"
    return ' / '.join(filter(None, (
        ', '.join(result.failed_tests[:MAX_TESTS])
        + (f', +{more} more' if more > 0 else ''),
        '+'.join(result.sanitizers), note)))


def table(results: Sequence[MutantResult]) -> List[str]:
    body = [HEADINGS] + [(r.mutant.name, ','.join(r.mutant.invariants),
                          r.label, evidence(r), f'{r.seconds:.0f}')
                         for r in results]
    body.insert(1, ['-' * max(map(len, column)) for column in zip(*body)])
    return _align(body, True)


def progress_line(index: int, total: int, result: MutantResult) -> str:
    cell = evidence(result)
    return (f'sva-kunit: [{index}/{total}] {result.mutant.name}: '
            f'{result.label} in {result.seconds:.0f} s'
            + (f': {cell}' if cell else ''))


def _summary(results: Sequence[MutantResult]) -> dict:
    """The core's mutants and the correct variants; rig_line() reports
    the fake driver's mutants."""
    variants = [r for r in results if r.mutant.correct]
    results = [r for r in results if not r.mutant.correct
               and not r.mutant.rig]
    ordinary = [r for r in results if not r.mutant.survivor]
    killed = sum(r.result == KILLED for r in ordinary)
    ran = [r.seconds for r in results if r.result != NO_APPLY]
    return {
        'counts': {name: sum(r.result == name for r in results) for name in
                   (KILLED, SURVIVED, BUILD_ERROR, TIMEOUT, NO_RESULT,
                    NO_APPLY)},
        'killed': killed, 'judged': len(ordinary),
        'kill_rate': killed / len(ordinary) if ordinary else None,
        'average': sum(ran) / len(ran) if ran else None,
        'variants': len(variants),
        'variants_failing': [r.mutant.name for r in variants if not r.ok]}


def summary_line(results: Sequence[MutantResult], baseline_s: float) -> str:
    s = _summary(results)
    total = sum(s['counts'].values())  # the mutants, without the variants
    counts = ', '.join(f'{n} {name}' for name, n in s['counts'].items()
                       if n or name in (KILLED, SURVIVED))
    rate = (f'{s["killed"]}/{s["judged"]} = {100 * s["kill_rate"]:.0f}%'
            if s['kill_rate'] is not None else 'n/a')
    text = (f'sva-kunit: {total} mutants: {counts}; kill rate {rate} '
            f'(killed / (total - {total - s["judged"]} known '
            'survivors))')
    known_killed = [r.mutant.name for r in results
                    if r.mutant.survivor and r.result == KILLED]
    if known_killed:
        text += f'; known survivor(s) killed: {", ".join(known_killed)}'
    if s['average'] is not None:
        text += (f'; {s["average"]:.0f} s per mutant after a '
                 f'{baseline_s:.0f} s baseline')
    if s['variants']:
        failing = s['variants_failing']
        text += (f'; {s["variants"]} correct variants: ' + (
            f'{len(failing)} turned the suite red ({", ".join(failing)})'
            if failing else 'the suite passes each'))
    return text


def rig_line(results: Sequence[MutantResult]) -> str:
    """The fake driver's mutants, apart from the core's: a survivor
    there is a check the rig does not make; '' when none ran."""
    rig = [r for r in results if r.mutant.rig]
    if not rig:
        return ''
    killed = [r for r in rig if r.result == KILLED]
    missed = [r.mutant.name for r in rig if r.result != KILLED]
    return (f'sva-kunit: {len(rig)} fake-driver mutants (the test rig): '
            f'{len(killed)} killed' + (f'; not killed: {", ".join(missed)}'
                                       if missed else ''))


def to_json(results: Sequence[MutantResult], baseline_s: float,
            tree: str, fallback: Optional[Dict[str, str]] = None,
            verified: Sequence[tuple] = ()) -> str:
    s = _summary(results)
    return json.dumps({
        'tree': tree, 'baseline_seconds': round(baseline_s, 1),
        'built_by_patching': fallback or {},
        'verified': [{'name': name, 'by_switch': switched,
                      'by_patching': patched, 'patch_seconds': round(t, 1)}
                     for name, switched, patched, t in verified],
        'average_seconds': s['average'] and round(s['average'], 1),
        'counts': s['counts'], 'kill_rate': s['kill_rate'],
        'correct_variants_failing': s['variants_failing'],
        'exit_code': exit_code(results),
        'mutants': [{
            'name': r.mutant.name, 'file': r.mutant.file,
            'invariants': list(r.mutant.invariants), 'fix': r.mutant.fix,
            'known_survivor': bool(r.mutant.survivor),
            'correct_variant': r.mutant.correct, 'result': r.result,
            'ok': r.ok, 'failed_tests': r.failed_tests,
            'sanitizers': r.sanitizers, 'note': r.note,
            'seconds': round(r.seconds, 1), 'log': r.log,
        } for r in results]}, indent=2) + '\n'
