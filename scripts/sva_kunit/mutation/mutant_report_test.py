"""Classification, exit code and report formatting from fake outcomes."""

import json
import unittest

from ..errors import EXIT_FAILED, EXIT_OK
from ..run import kernel_log
from ..run.kernel_log_test import read_test_data
from ..run.kunit_runner import BUILDING, STARTING, KunitRun
from ..run.suite_run import RunOutcome
from ..testing_support import FAILING_LOG, KASAN_IN_TEST_LOG, PASSING_LOG
from . import mutant_report
from .mutant_report import (BUILD_ERROR, KILLED, NO_APPLY, NO_RESULT,
                            SURVIVED, TIMEOUT, MutantResult, classify,
                            exit_code)
from .mutants import Hunk, Mutant

ORDINARY = Mutant('no-mmgrab', ('I2', 'I9'), 'f.c', 'd', (Hunk('a', ''),))
KNOWN = Mutant('no-busy-check', ('I8',), 'f.c', 'd', (Hunk('a', ''),),
               survivor='unreachable')
VARIANT = Mutant('cyclic-pasids', ('I1',), 'f.c', 'd', (Hunk('a', ''),),
                 correct=True)

LOCKDEP_HANG_LOG = PASSING_LOG.split('    ok 2')[0] + (
    'WARNING: possible recursive locking detected\n'
    '--------------------------------------------\n')


def outcome(log, rc=0, stage=STARTING, timed_out=False, exit_code=None,
            summary='FAIL: x'):
    verdict = kernel_log.judge(log) if log is not None else None
    if exit_code is None:
        exit_code = EXIT_OK if verdict and verdict.passed and not rc \
            and not timed_out else EXIT_FAILED
    return RunOutcome(exit_code, summary, [], verdict,
                      KunitRun(rc, stage, timed_out), '/b')


class ClassifyTest(unittest.TestCase):

    def test_survived(self):
        r = classify(ORDINARY, outcome(PASSING_LOG))
        self.assertEqual((r.result, r.ok, r.label), (SURVIVED, False,
                                                     'survived'))
        r = classify(KNOWN, outcome(PASSING_LOG))
        self.assertEqual((r.ok, r.label), (True, 'survived (known '
                                           'survivor)'))

    def test_killed_by_a_test(self):
        r = classify(ORDINARY, outcome(FAILING_LOG, rc=1))
        self.assertEqual((r.result, r.failed_tests, r.sanitizers, r.ok),
                         (KILLED, ['iommu_sva.iommu_sva_unbind'], [], True))

    def test_killed_by_a_sanitizer_only(self):
        r = classify(ORDINARY, outcome(KASAN_IN_TEST_LOG))
        self.assertEqual((r.result, r.failed_tests, r.sanitizers),
                         (KILLED, ['iommu_sva.iommu_sva_unbind'], ['KASAN']))
        self.assertEqual(mutant_report.evidence(r),
                         'iommu_sva.iommu_sva_unbind / KASAN')

    def test_crash_placeholders_are_not_test_names(self):
        crash = PASSING_LOG.split('    ok 1')[0] + (
            'BUG: KASAN: slab-use-after-free in t+0x1/0x2\n'
            'Kernel panic - not syncing: Segfault with no mm\n')
        o = outcome(crash, rc=1)
        r = classify(ORDINARY, o)
        self.assertEqual((r.result, r.failed_tests, r.sanitizers), (
            KILLED, ['iommu_sva.<test #1>'], ['KASAN', 'panic']))

    def test_crash_before_any_test(self):
        r = classify(ORDINARY, outcome('Kernel panic - boom\n', rc=1))
        self.assertEqual((r.result, r.note), (KILLED, 'crashed'))

    def test_no_evidence_is_no_kill(self):
        # A kernel that never started, or that stopped without a failed
        # test or a report, says nothing about the mutant.
        for log, rc in ((None, 1), ('Linux version 7.3\n', 1),
                        (PASSING_LOG, 1),
                        (PASSING_LOG.split('    ok 2')[0], 1)):
            with self.subTest(log=log):
                r = classify(ORDINARY, outcome(log, rc=rc, stage=STARTING,
                                               summary='FAIL: why'))
                self.assertEqual((r.result, r.ok, r.note),
                                 (NO_RESULT, False, 'why'))

    def test_build_error(self):
        r = classify(ORDINARY, outcome(
            None, rc=1, stage=BUILDING, summary='FAIL: kunit.py failed to '
            'build the kernel (exit 1); see its output above'))
        self.assertEqual((r.result, r.ok, r.note), (
            BUILD_ERROR, False, 'kunit.py failed to build the kernel '
            '(exit 1)'))

    def test_timeout_while_building(self):
        r = classify(ORDINARY, outcome(None, rc=-9, stage=BUILDING,
                                       timed_out=True))
        self.assertEqual((r.result, r.ok), (TIMEOUT, False))

    def test_deadlocked_kernel_is_killed_with_its_lockdep_report(self):
        r = classify(ORDINARY, outcome(LOCKDEP_HANG_LOG, rc=-9,
                                       timed_out=True))
        self.assertEqual((r.result, r.label, r.sanitizers, r.ok),
                         (KILLED, 'killed (timeout)', ['lockdep'], True))
        self.assertEqual(r.failed_tests, ['iommu_sva.<test #2>'])

    def test_timeout_with_no_evidence_is_not_a_kill(self):
        # Every test finished, nothing in the log: the limit was too short.
        r = classify(ORDINARY, outcome(PASSING_LOG, rc=-9, timed_out=True))
        self.assertEqual((r.result, r.ok, r.failed_tests),
                         (TIMEOUT, False, []))
        self.assertIn('no evidence', r.note)

    def test_timeout_in_a_test_that_never_finished_is_no_kill(self):
        # Without a report the limit may just have been too short.
        hung = PASSING_LOG.split('    ok 2')[0]
        r = classify(ORDINARY, outcome(hung, rc=-9, timed_out=True))
        self.assertEqual((r.result, r.note), (TIMEOUT, 'timeout, no '
                                              'evidence in the kernel log'))
        self.assertFalse(r.ok)

    def test_real_deadlock_is_killed_with_lockdep_as_evidence(self):
        r = classify(ORDINARY, outcome(read_test_data(
            'uml-7.3-lockdep-deadlock.log'), rc=-9, timed_out=True))
        self.assertEqual((r.result, r.sanitizers, r.failed_tests),
                         (KILLED, ['lockdep'],
                          ['iommu_sva_bind.sva_test_rebind_same_handle']))

    def test_known_survivor_killed_is_fine(self):
        r = classify(KNOWN, outcome(FAILING_LOG, rc=1))
        self.assertEqual((r.result, r.ok, r.label),
                         (KILLED, True, 'killed (known survivor)'))


class CorrectVariantTest(unittest.TestCase):

    def test_a_correct_variant_must_pass(self):
        passed = classify(VARIANT, outcome(PASSING_LOG))
        failed = classify(VARIANT, outcome(FAILING_LOG))
        self.assertEqual((passed.ok, passed.label),
                         (True, 'passes (correct variant)'))
        self.assertEqual((failed.ok, failed.label),
                         (False, 'FAILS (correct variant)'))
        self.assertEqual(exit_code([passed]), EXIT_OK)
        self.assertEqual(exit_code([passed, failed]), EXIT_FAILED)

    def test_variants_stay_out_of_the_kill_rate(self):
        killed = classify(ORDINARY, outcome(FAILING_LOG))
        good = classify(VARIANT, outcome(PASSING_LOG))
        line = mutant_report.summary_line([killed, good], 10.0)
        self.assertIn('1 mutants: 1 killed, 0 survived; kill rate 1/1', line)
        self.assertIn('1 correct variants: the suite passes each', line)
        bad = classify(VARIANT, outcome(FAILING_LOG))
        line = mutant_report.summary_line([killed, bad], 10.0)
        self.assertIn('1 correct variants: 1 turned the suite red '
                      '(cyclic-pasids)', line)
        data = json.loads(mutant_report.to_json([killed, bad], 10.0, '/t'))
        self.assertEqual(data['correct_variants_failing'], ['cyclic-pasids'])
        self.assertEqual(data['exit_code'], EXIT_FAILED)
        self.assertIn('(correct variant: must pass)',
                      mutant_report.list_lines([VARIANT])[0])

    def test_fake_driver_mutants_are_reported_apart(self):
        rig = Mutant('fake-no-flush', ('I16',),
                     'drivers/iommu/fake-iommu/fake-iommu.c', 'd',
                     (Hunk('a', ''),))
        self.assertTrue(rig.rig)
        self.assertFalse(ORDINARY.rig)
        killed = classify(ORDINARY, outcome(FAILING_LOG))
        missed = classify(rig, outcome(PASSING_LOG))
        line = mutant_report.summary_line([killed, missed], 10.0)
        self.assertIn('1 mutants: 1 killed, 0 survived; kill rate 1/1', line)
        self.assertEqual(mutant_report.rig_line([killed, missed]),
                         'sva-kunit: 1 fake-driver mutants (the test rig): '
                         '0 killed; not killed: fake-no-flush')
        self.assertEqual(mutant_report.rig_line([killed]), '')
        # A rig mutant that survives fails the campaign all the same.
        self.assertEqual(exit_code([killed, missed]), EXIT_FAILED)


class ExitCodeTest(unittest.TestCase):

    def test_rules(self):
        killed = MutantResult(ORDINARY, KILLED)
        known = MutantResult(KNOWN, SURVIVED)
        self.assertEqual(exit_code([killed, known]), EXIT_OK)
        self.assertEqual(exit_code([killed, MutantResult(KNOWN, KILLED)]),
                         EXIT_OK)
        for bad in (MutantResult(ORDINARY, SURVIVED),
                    MutantResult(ORDINARY, BUILD_ERROR),
                    MutantResult(ORDINARY, TIMEOUT),
                    MutantResult(KNOWN, BUILD_ERROR),
                    MutantResult(ORDINARY, NO_APPLY)):
            self.assertEqual(exit_code([killed, known, bad]), EXIT_FAILED,
                             bad)


class ReportTest(unittest.TestCase):

    def results(self):
        return [MutantResult(ORDINARY, KILLED, ['s.a', 's.b', 's.c', 's.d'],
                             ['KASAN', 'refcount'], seconds=61.4),
                MutantResult(KNOWN, SURVIVED, seconds=58.6),
                MutantResult(Mutant('x', ('I1',), 'f.c', 'd', (), fix='abc'),
                             NO_APPLY,
                             note="hunk 1 of 1 ('a') not found in f.c")]

    def test_list_lines(self):
        lines = mutant_report.list_lines([ORDINARY, KNOWN, Mutant(
            'x', ('I1',), 'f.c', 'd', (), fix='abc')])
        self.assertEqual(lines, [
            'no-mmgrab      I2,I9',
            'no-busy-check  I8     (known survivor)',
            'x              I1     fix abc'])

    def test_table(self):
        self.assertEqual(mutant_report.table(self.results()), [
            'mutant         invariant  result                     '
            'failed tests / sanitizer            seconds',
            '-------------  ---------  -------------------------  '
            '----------------------------------  -------',
            'no-mmgrab      I2,I9      killed                     '
            's.a, s.b, +2 more / KASAN+refcount       61',
            'no-busy-check  I8         survived (known survivor)  '
            '                                         59',
            "x              I1         no-apply                   "
            "hunk 1 of 1 ('a') not found in f.c        0"])

    def test_summary_and_json(self):
        line = mutant_report.summary_line(self.results(), 300.2)
        self.assertEqual(line, 'sva-kunit: 3 mutants: 1 killed, 1 survived, '
                         '1 no-apply; kill rate 1/2 = 50% (killed / (total '
                         '- 1 known survivors)); 60 s per mutant after a '
                         '300 s baseline')
        data = json.loads(mutant_report.to_json(self.results(), 300.2, '/t'))
        self.assertEqual(data['exit_code'], EXIT_FAILED)
        self.assertEqual(data['kill_rate'], 0.5)
        self.assertEqual(data['mutants'][0]['failed_tests'],
                         ['s.a', 's.b', 's.c', 's.d'])
        self.assertEqual(data['mutants'][2]['result'], NO_APPLY)

    def test_known_survivor_killed_is_reported(self):
        line = mutant_report.summary_line([MutantResult(KNOWN, KILLED)], 1)
        self.assertIn('kill rate n/a', line)
        self.assertIn('known survivor(s) killed: no-busy-check', line)


if __name__ == '__main__':
    unittest.main()
