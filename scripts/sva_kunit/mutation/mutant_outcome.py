"""What one mutant's run means: killed, survived, or not judged at all.

Pure functions over suite_run's RunOutcome, so every rule is testable
with a fake outcome and no kernel.
"""

from dataclasses import dataclass, field
from typing import List, Sequence

from ..errors import EXIT_FAILED, EXIT_OK
from ..run.kernel_log import UNFINISHED, Verdict
from ..run.suite_run import RunOutcome
from .mutants import Mutant

KILLED = 'killed'            # tests failed and/or the kernel log spoke
SURVIVED = 'survived'        # the suite passed with the mutant in
BUILD_ERROR = 'build-error'  # kunit.py could not configure/build it
TIMEOUT = 'timeout'          # the time limit hit, and nothing shows why
NO_APPLY = 'no-apply'        # the mutant does not fit the tree's file


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
        """As the catalogue expects: killed, or a known survivor."""
        return self.result == KILLED or (self.result == SURVIVED and
                                         self.mutant.known_survivor)

    @property
    def label(self) -> str:
        if self.result == KILLED and self.note == 'timeout':
            text = 'killed (timeout)'
        else:
            text = self.result
        if self.mutant.known_survivor:
            text += ' (known survivor)'
        return text


def _kinds(outcome: RunOutcome) -> List[str]:
    if outcome.verdict is None:
        return []
    return list(dict.fromkeys(kind for report in
                              outcome.verdict.reports
                              for kind in report.kinds))


def _short(summary: str) -> str:
    """"FAIL: kunit.py failed to build ... (exit 1); see its output above"
    -> "kunit.py failed to build ... (exit 1)"."""
    text = summary.split(': ', 1)[-1] if summary.startswith(
        ('FAIL: ', 'PASS: ')) else summary
    return text.replace('; see its output above', '')


def _failed_tests(verdict: Verdict) -> List[str]:
    names = [t.name for t in verdict.failed_tests]
    # The test a report came from when the log ends inside it (a hang, a
    # crash) has no result line, so it is in no failed list.
    names += [r.owner for r in verdict.reports
              if r.where == UNFINISHED]
    # After a crash kunit.py's JSON has nameless placeholders for the tests
    # it expected ("" or "suite."); they name nothing, so leave them out.
    return [n for n in dict.fromkeys(names) if n and not n.endswith('.')]


def classify(mutant: Mutant, outcome: RunOutcome) -> MutantResult:
    run = outcome.kunit
    if not run.kernel_ran:
        # The baseline built, so this is the mutant's doing -- but a
        # mutant that does not compile tells nothing about the suite.
        result = TIMEOUT if run.timed_out else BUILD_ERROR
        return MutantResult(mutant, result, note=_short(outcome.summary))
    verdict = outcome.verdict
    failed = _failed_tests(verdict) if verdict else []
    kinds = _kinds(outcome)
    if run.timed_out:
        # A hang kills the mutant only with evidence that the kernel went
        # wrong: a report (lockdep's splat before a deadlock, a hung task)
        # or a test that started and never finished.  Otherwise the limit
        # may just have been too short.
        unfinished = verdict.unfinished if verdict else ''
        if kinds or failed or unfinished:
            return MutantResult(mutant, KILLED, failed or [unfinished],
                                kinds, 'timeout')
        return MutantResult(mutant, TIMEOUT,
                            note='timeout, no evidence in the kernel log')
    if outcome.exit_code == EXIT_OK:
        return MutantResult(mutant, SURVIVED)
    if verdict is None or not verdict.tests:
        note = 'crashed' if verdict is not None else 'kernel did not run'
        return MutantResult(mutant, KILLED, failed, kinds, note)
    note = '' if failed or kinds else f'kunit.py exit {run.returncode}'
    return MutantResult(mutant, KILLED, failed, kinds, note)


def no_apply(mutant: Mutant, reason: str) -> MutantResult:
    return MutantResult(mutant, NO_APPLY, note=reason)


def exit_code(results: Sequence[MutantResult]) -> int:
    """0 when every mutant is killed or is a known survivor that
    survived; 1 for any other survivor, build error, timeout or no-apply.
    A known survivor that got killed is fine."""
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
