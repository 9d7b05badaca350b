import os
import unittest
from unittest import mock

from .cli_test import CliTestCase
from .testing_support import FAILING_LOG, KASAN_IN_TEST_LOG, PASSING_LOG
from . import cmd_run
from .run import suite_run
from .run.kernel_log import judge
from .run.kunit_runner import KunitRun, STARTING
from .run.suite_run import RunOutcome

BOOT_PANIC_LOG = 'Linux version 6.12\nKernel panic - not syncing: boom\n'
BIND, UNBIND = 'iommu_sva.iommu_sva_bind', 'iommu_sva.iommu_sva_unbind'


class RepeatCommandTest(CliTestCase):

    def repeat(self, count: str, *extra: str) -> tuple:
        return self.run_cmd(f'--repeat={count}', *extra)

    def test_builds_once_then_boots_with_the_same_options(self):
        build = os.path.join(self._tmp.name, 'b')
        with mock.patch.object(suite_run, 'ensure_packages'):
            rc, out, err = self.repeat('3', '--arch=arm64',
                                       f'--build-dir={build}',
                                       '--filter=iommu_sva.*',
                                       '--qemu-args=-smp 2', '--jobs=5')
        self.assertEqual((rc, err), (0, ''), out)
        calls = [c['argv'] for c in self.calls()]
        self.assertEqual([argv[0] for argv in calls],
                         ['config', 'build', 'exec', 'exec', 'exec'])
        self.assertIn('--jobs=5', calls[1])
        # Every boot gets the same options.
        self.assertEqual(calls[2], calls[3])
        self.assertEqual(calls[2], calls[4])
        for option in (f'--build_dir={build}', '--arch=arm64',
                       '--cross_compile=aarch64-linux-gnu-',
                       '--qemu_args=-cpu max,pauth-impdef=on',
                       '--qemu_args=-smp 2',
                       '--kernel_args=kasan_multi_shot', 'iommu_sva.*'):
            self.assertIn(option, calls[2])
        self.assertEqual(out.splitlines()[-1], 'sva-kunit: PASS: all 3 runs '
                         'passed (2 tests each); kernel log clean every time')
        self.assertIn(f'{BIND}    0/3', out)
        self.assertIn('sva-kunit: run 2 of 3: PASS', out)
        self.assertEqual(os.listdir(os.path.join(build, 'repeat-logs')), [])

    def test_any_failure_in_any_run_fails_and_keeps_that_log(self):
        # The first run is three calls: config, build, exec.
        self.set_control(log=PASSING_LOG, calls=[
            {}, {}, {}, {'log': KASAN_IN_TEST_LOG}, {},
            {'log': FAILING_LOG, 'rc': 1},
            {'log': BOOT_PANIC_LOG, 'rc': 1}])
        build = os.path.join(self._tmp.name, 'b')
        rc, out, _ = self.repeat('5', f'--build-dir={build}')
        self.assertEqual(rc, 1)
        table = out[out.index('\ntest '):].splitlines()[1:-1]
        self.assertEqual([line.split() for line in table], [
            ['test', 'failed/5'],
            [BIND, '0/5'],
            [UNBIND, '2/5'],
            ['(no', 'test', 'results:', 'build,', 'boot', 'or', 'crash)',
             '1/5']])
        logs = os.path.join(build, 'repeat-logs')
        self.assertEqual(sorted(os.listdir(logs)), [
            'run-2.test.log', 'run-4.test.log', 'run-5.test.log'])
        with open(os.path.join(logs, 'run-2.test.log')) as f:
            self.assertEqual(f.read(), KASAN_IN_TEST_LOG)
        self.assertIn(f'raw log: {logs}/run-4.test.log', out)
        self.assertIn('KUnit said ok but the kernel log has KASAN', out)
        self.assertEqual(out.splitlines()[-1], 'sva-kunit: FAIL: 3 of 5 runs '
                         f'failed; failed: {UNBIND} 2/5; no test results in '
                         f'1/5; raw logs of the '
                         f'failed runs in {logs}')

    def test_a_report_in_no_test_fails_the_command(self):
        boot_warning = 'WARNING: CPU: 0 PID: 1 at mm/x.c:1 f+0x1/0x2\n'
        self.set_control(log=PASSING_LOG, calls=[
            {}, {}, {}, {'log': boot_warning + PASSING_LOG}])
        rc, out, _ = self.repeat('2')
        self.assertEqual(rc, 1)
        self.assertIn(f'{cmd_run.IN_NO_TEST}  1/2', out)
        self.assertIn('FAIL: 1 of 2 runs failed; a kernel-log report in no '
                      'test in 1/2; raw logs', out)

    def test_a_build_failure_stops_before_repeating(self):
        self.set_control(fail='build', log='')
        rc, out, _ = self.repeat('4')
        self.assertEqual(rc, 1)
        self.assertEqual([c['argv'][0] for c in self.calls()],
                         ['config', 'build'])
        self.assertEqual(out.splitlines()[-1], 'sva-kunit: FAIL: kunit.py '
                         'failed to build the kernel (exit 1); see its output '
                         'above; nothing repeated')

    def test_an_exec_that_cannot_boot_counts_as_a_failed_run(self):
        self.set_control(log=PASSING_LOG, calls=[{}, {}, {},
                                                     {'fail': 'exec'}])
        rc, out, _ = self.repeat('2')
        self.assertEqual(rc, 1)
        self.assertIn('run 2 of 2: FAIL: kunit.py failed to start or run the '
                      'kernel', out)
        self.assertIn(f'{cmd_run.NO_RESULTS}  1/2', out)
        # The exec wrote no test.log, so there is none to keep.
        self.assertEqual(out.splitlines()[-1], 'sva-kunit: FAIL: 1 of 2 runs '
                         'failed; no test results in 1/2')

    def test_count_must_be_a_positive_integer(self):
        for bad, why in (('0', "'0' is not from 1 to 1000000"),
                         ('-2', "'-2' is not from 1 to 1000000"),
                         ('x', "'x' is not a whole number"),
                         ('', "'' is not a whole number")):
            rc, out, err = self.repeat(bad)
            self.assertEqual(rc, 2)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(f'argument --repeat: {why}', err)
        self.assertEqual(self.calls(), [])


def outcome(log: str, rc: int = 0) -> RunOutcome:
    verdict = judge(log)
    return RunOutcome(0 if verdict.passed and rc == 0 else 1, '', [], verdict,
                      KunitRun(rc, STARTING))


class TallyTest(unittest.TestCase):

    def test_counts_failed_and_missing_results_per_test(self):
        # The kernel died during the second test: no result for it.
        crashed = PASSING_LOG.split('    ok 2')[0]
        tallies = cmd_run.tally_runs([outcome(PASSING_LOG),
                                         outcome(FAILING_LOG, 1),
                                         outcome(crashed, 1),
                                         outcome(BOOT_PANIC_LOG, 1)])
        self.assertEqual(list(tallies), [BIND, UNBIND,
                                         cmd_run.NO_RESULTS])
        self.assertEqual((tallies[UNBIND].failed, tallies[UNBIND].not_run),
                         (1, 1))
        self.assertEqual(tallies[cmd_run.NO_RESULTS].failed, 1)
        table = cmd_run.format_table(tallies, 4)
        self.assertEqual(table[0].split(), ['test', 'failed/4'])
        self.assertEqual(table[2].split(), [UNBIND, '1/4', '(no', 'result',
                                            'in', '1)'])

    def test_summary_names_at_most_five_tests(self):
        tallies = {f't{i}': cmd_run.Tally(1) for i in range(7)}
        runs = [outcome(FAILING_LOG, 1)]
        line = cmd_run.summary_line(runs, tallies, '/logs')
        self.assertIn('failed: t0 1/1, t1 1/1, t2 1/1, t3 1/1, t4 1/1, and 2 '
                      'more; raw logs of the failed runs in /logs', line)


if __name__ == '__main__':
    unittest.main()
