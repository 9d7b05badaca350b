import os
import unittest
from typing import List

from . import kernel_log
from .kernel_log import (BOOT, FAIL, OUTSIDE, PASS, SKIP, SUITE, TEST,
                         UNFINISHED, by_rank)

UML_BOOT = '''Core dump limits :
\tsoft - 0
Checking environment variables for a tempdir...none found
Linux version 6.12.117 (root@host) (gcc (Debian 12.2.0-14) 12.2.0) #1
Kernel command line: mem=1G console=tty kunit_shutdown=halt kunit.enable=1
Using a channel type which is configured out of UML
setup_one_line failed for device 1 : Configuration failed
------------[ cut here ]------------
No virtio device ID configured for PCI - no PCI support
WARNING: CPU: 0 PID: 1 at arch/um/drivers/virt-pci.c:616 \
virtio_pcidev_init+0x60/0x80
Modules linked in:
CPU: 0 UID: 0 PID: 1 Comm: swapper Not tainted 6.12.117 #1
Stack:
 60a1b8f0 60c3a3b0 00000000 00000000
Call Trace:
 [<600279c0>] ? show_stack+0x140/0x160
---[ end trace 0000000000000000 ]---
'''

KASAN = '''==================================================================
BUG: KASAN: slab-use-after-free in fake_iommu_unbind+0x40/0x90
Read of size 8 at addr 0000000061a3c018 by task kunit_try_catch/29
CPU: 0 UID: 0 PID: 29 Comm: kunit_try_catch Tainted: G                 N 6.12
==================================================================
'''

REFCOUNT = '''------------[ cut here ]------------
refcount_t: underflow; use-after-free.
WARNING: CPU: 0 PID: 30 at lib/refcount.c:28 refcount_warn_saturate+0x9c/0x110
Modules linked in:
---[ end trace 0000000000000000 ]---
'''

LOCKDEP = '''
======================================================
WARNING: possible circular locking dependency detected
6.12.117 #1 Tainted: G        W        N
------------------------------------------------------
kunit_try_catch/31 is trying to acquire lock:
'''


# sva_kunit/test_data/: kept at the package's top, where README.md points.
TEST_DATA = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'test_data')


def read_test_data(name: str) -> str:
    """A test.log kept from a real run (see test_data/README)."""
    with open(os.path.join(TEST_DATA, name), encoding='utf-8',
              errors='backslashreplace') as f:
        return f.read()


def suite(name: str, body: str, plan: int, number: int = 1,
          status: str = 'ok') -> str:
    return (f'    KTAP version 1\n    # Subtest: {name}\n'
            f'    # module: iommu_sva_test\n    1..{plan}\n' + body
            + f'{status} {number} {name}\n')


def log(*suites: str, trailer: str = '') -> str:
    return (UML_BOOT + 'KTAP version 1\n' + f'1..{len(suites)}\n'
            + ''.join(suites) + trailer)


def stamp(text: str) -> str:
    """Add printk timestamps the way CONFIG_PRINTK_TIME=y does."""
    return ''.join(f'[    {i / 1000:.6f}] {line}\n'
                   for i, line in enumerate(text.splitlines()))


PASSING_SUITE = suite('iommu_sva', '    ok 1 iommu_sva_bind\n'
                      '    ok 2 iommu_sva_unbind\n'
                      '# iommu_sva: pass:2 fail:0 skip:0 total:2\n', 2)


class KernelLogTest(unittest.TestCase):

    def both(self, text: str) -> List[kernel_log.Verdict]:
        """Judge the log with and without printk timestamps."""
        return [kernel_log.judge(text), kernel_log.judge(stamp(text))]

    def test_boot_splat_only_passes(self):
        for verdict in self.both(log(PASSING_SUITE)):
            self.assertTrue(verdict.passed, verdict)
            self.assertEqual([t.name for t in verdict.tests],
                             ['iommu_sva.iommu_sva_bind',
                              'iommu_sva.iommu_sva_unbind'])

    def test_boot_reports_fail_the_run(self):
        # KASAN reports once and lockdep turns itself off after a splat:
        # a report before the first suite silences both for every test.
        text = UML_BOOT + KASAN + log(PASSING_SUITE)
        for verdict in self.both(text):
            self.assertFalse(verdict.passed)
            self.assertFalse(verdict.failed_tests)
            [report] = verdict.reports
            self.assertEqual(report.where, BOOT)
            self.assertIn('during boot', report.describe())

    def test_kasan_in_ok_test_fails_naming_it(self):
        body = ('    ok 1 iommu_sva_bind\n' + KASAN +
                '    ok 2 iommu_sva_unbind\n')
        for verdict in self.both(log(suite('iommu_sva', body, 2))):
            self.assertFalse(verdict.passed)
            self.assertEqual([t.name for t in verdict.failed_tests],
                             ['iommu_sva.iommu_sva_unbind'])
            [report] = verdict.reports
            self.assertEqual((report.kinds, report.where, report.owner),
                             (['KASAN'], TEST, 'iommu_sva.iommu_sva_unbind'))
            lines = list(kernel_log.summarize(verdict))
            self.assertIn('iommu_sva.iommu_sva_unbind: KUnit said ok but the '
                          'kernel log has KASAN', lines)

    def test_report_before_first_result_goes_to_first_test(self):
        body = KASAN + '    ok 1 iommu_sva_bind\n    ok 2 iommu_sva_unbind\n'
        [report] = kernel_log.judge(log(suite('iommu_sva', body, 2))).reports
        self.assertEqual(report.owner, 'iommu_sva.iommu_sva_bind')
        self.assertIn('suite init', report.detail)

    def test_refcount_in_suite_exit_fails_naming_suite(self):
        body = ('    ok 1 iommu_sva_bind\n    ok 2 iommu_sva_unbind\n'
                + REFCOUNT)
        for verdict in self.both(log(suite('iommu_sva', body, 2))):
            self.assertFalse(verdict.passed)
            self.assertEqual(verdict.failed_tests, [])
            [report] = verdict.reports
            # One splat, one report, though two of its lines match.
            self.assertEqual(report.kinds, ['refcount', 'WARNING'])
            self.assertEqual((report.where, report.owner),
                             (SUITE, 'iommu_sva'))
            self.assertIn('refcount+WARNING in iommu_sva (suite exit)',
                          report.describe())

    def test_lockdep_fails_run(self):
        body = ('    ok 1 iommu_sva_bind\n' + LOCKDEP
                + '    ok 2 iommu_sva_mm\n')
        for verdict in self.both(log(suite('iommu_sva', body, 2))):
            [report] = verdict.reports
            self.assertEqual(report.kinds, ['lockdep'])
            self.assertEqual(report.owner, 'iommu_sva.iommu_sva_mm')

    def test_each_report_kind_is_recognised(self):
        cases = {
            'BUG: KASAN: null-ptr-deref in x': 'KASAN',
            'BUG: KCSAN: data-race in iommu_sva_bind_device / '
            'iommu_sva_unbind_device': 'KCSAN',
            'UBSAN: array-index-out-of-bounds in a.c:3:4': 'UBSAN',
            'WARNING: possible recursive locking detected': 'lockdep',
            'WARNING: inconsistent lock state': 'lockdep',
            'BUG: sleeping function called from invalid context at x':
                'sleep-in-atomic',
            'refcount_t: addition on 0; use-after-free.': 'refcount',
            'unreferenced object 0xffff888003f3c000 (size 64):': 'kmemleak',
            'kmemleak: unreferenced object 0xffff888003f3c000 (size 64):':
                'kmemleak',
            'general protection fault, probably for non-canonical address':
                'GPF',
            'Oops: general protection fault, probably for non-canonical':
                'GPF',
            'Kernel panic - not syncing: Segfault with no mm': 'panic',
            'Oops: 0000 [#1] PREEMPT SMP': 'Oops',
            'Internal error: Oops: 96000004 [#1] SMP': 'Oops',
            'WARNING: CPU: 0 PID: 9 at drivers/iommu/x.c:1 f+0x1/0x2':
                'WARNING',
            'BUG: unable to handle page fault for address: 0': 'BUG',
        }
        for line, kind in cases.items():
            self.assertEqual(kernel_log.classify(line), kind, line)
            self.assertEqual(kernel_log.classify('    ' + line), kind, line)
        for line in ('kmemleak: Kernel memory leak detector initialized',
                     'kmemleak: 2 new suspected memory leaks (see /sys/kern'
                     'el/debug/kmemleak)',
                     '    # iommu_sva_bind: EXPECTATION FAILED at x.c:3',
                     'Using a channel type which is configured out of UML',
                     'WARNING: CPU: 0 PID: 1 at arch/um/drivers/virt-pci.c:'
                     '616 virtio_pcidev_init+0x60/0x80', 'ok 1 WARNING: x'):
            self.assertIsNone(kernel_log.classify(line), line)

    def test_ubsan_and_kmemleak_in_tests(self):
        body = ('UBSAN: shift-out-of-bounds in drivers/iommu/x.c:1:2\n'
                '    ok 1 a\n'
                'kmemleak: 1 new suspected memory leaks\n'
                'unreferenced object 0x6000 (size 32):\n'
                '    ok 2 b\n')
        verdict = kernel_log.judge(log(suite('iommu_sva', body, 2)))
        self.assertEqual([(r.owner, r.kinds) for r in verdict.reports],
                         [('iommu_sva.a', ['UBSAN']),
                          ('iommu_sva.b', ['kmemleak'])])

    def test_leaks_the_suite_does_not_blame_do_not_fail_the_run(self):
        # kmemleak's scan counts every leak in the kernel; the suite's
        # kmemleak case blames only those the IOMMU code allocated, and
        # the verdict agrees with it.
        body = ('kmemleak: 3 new suspected memory leaks (see /sys/kernel/'
                'debug/kmemleak)\n'
                '    ok 1 sva_test_leak_kmemleak_scan\n')
        verdict = kernel_log.judge(log(suite('iommu_sva_leak', body, 1)))
        self.assertTrue(verdict.passed, verdict.reports)

    def test_parameterised_test_reports_name_test_and_parameter(self):
        body = ('    ok 1 iommu_sva_bind\n'
                '        KTAP version 1\n'
                '        # Subtest: iommu_sva_pasid\n'
                '        ok 1 pasid=1\n' + KASAN +
                '        ok 2 pasid=2\n'
                '    # iommu_sva_pasid: pass:2 fail:0 skip:0 total:2\n'
                '    ok 2 iommu_sva_pasid\n')
        for verdict in self.both(log(suite('iommu_sva', body, 2))):
            self.assertEqual([t.name for t in verdict.tests],
                             ['iommu_sva.iommu_sva_bind',
                              'iommu_sva.iommu_sva_pasid'])
            [report] = verdict.reports
            self.assertEqual((report.owner, report.detail),
                             ('iommu_sva.iommu_sva_pasid',
                              'parameter pasid=2'))
            self.assertEqual([t.name for t in verdict.failed_tests],
                             ['iommu_sva.iommu_sva_pasid'])

    def test_second_suite_and_between_suites(self):
        other = suite('iommu_sva_mm', '    ok 1 mm_a\n' + REFCOUNT
                      + '    not ok 2 mm_b\n    ok 3 mm_c # SKIP no hw\n',
                      3, number=2, status='not ok')
        text = log(PASSING_SUITE.replace('ok 1 iommu_sva\n',
                                         'ok 1 iommu_sva\n' + LOCKDEP),
                   other)
        verdict = kernel_log.judge(text)
        self.assertEqual([(r.where, r.owner) for r in verdict.reports],
                         [(OUTSIDE, 'after suite iommu_sva'),
                          (TEST, 'iommu_sva_mm.mm_b')])
        self.assertEqual({t.name: t.kunit_status for t in verdict.tests},
                         {'iommu_sva.iommu_sva_bind': PASS,
                          'iommu_sva.iommu_sva_unbind': PASS,
                          'iommu_sva_mm.mm_a': PASS,
                          'iommu_sva_mm.mm_b': FAIL,
                          'iommu_sva_mm.mm_c': SKIP})

    def test_crash_mid_test_blames_the_unfinished_test(self):
        text = (UML_BOOT + 'KTAP version 1\n1..1\n    KTAP version 1\n'
                '    # Subtest: iommu_sva\n    1..3\n    ok 1 a\n'
                'Kernel panic - not syncing: Segfault with no mm\n')
        for verdict in self.both(text):
            [report] = verdict.reports
            self.assertEqual((report.where, report.owner),
                             (UNFINISHED, 'iommu_sva.<test #2>'))
            self.assertFalse(verdict.passed)

    def test_no_tests_is_not_a_pass(self):
        self.assertFalse(kernel_log.judge(UML_BOOT).passed)

    def test_old_tab_indented_ktap(self):
        text = ('TAP version 14\n1..1\n\t# Subtest: iommu_sva\n\t1..2\n'
                '\tok 1 - a\n' + KASAN + '\tok 2 - b\nok 1 - iommu_sva\n')
        for verdict in self.both(text):
            self.assertEqual([t.name for t in verdict.failed_tests],
                             ['iommu_sva.b'])

    def test_unindented_ktap_closes_suite_by_name(self):
        text = ('KTAP version 1\n1..1\n# Subtest: iommu_sva\n1..1\n'
                'ok 1 a\n' + REFCOUNT + 'ok 1 iommu_sva\n')
        [report] = kernel_log.judge(text).reports
        self.assertEqual((report.where, report.owner), (SUITE, 'iommu_sva'))

    def test_timestamp_and_caller_prefix_are_stripped(self):
        text = ''.join(f'[    1.234567][    T1] {line}\n'
                       for line in log(PASSING_SUITE, trailer=KASAN).split(
                           '\n'))
        verdict = kernel_log.judge(text)
        self.assertEqual(len(verdict.tests), 2)
        self.assertEqual(verdict.reports[0].first_line,
                         KASAN.splitlines()[1])


class RealKernelOutputTest(unittest.TestCase):
    """test.log files kept from real runs of the suite (test_data/)."""

    def judge(self, name: str) -> kernel_log.Verdict:
        return kernel_log.judge(read_test_data(name))

    def test_clean_6_12_run_with_uml_boot_warning(self):
        verdict = self.judge('uml-6.12-clean.log')
        self.assertTrue(verdict.passed, verdict.reports)
        self.assertEqual(len(verdict.tests), 29)
        # 8 I11 results skip there: the mm list came with v6.19.
        self.assertIn('WARNING: CPU: 0 PID: 1 at arch/um/drivers/virt-pci.c',
                      read_test_data('uml-6.12-clean.log'))

    def test_log_cut_off_inside_a_test_never_passes(self):
        # What kunit.py leaves when its own time limit kills the kernel:
        # the log stops inside a test, and its JSON lists only the tests
        # that finished, every one of them ok.
        lines = read_test_data('uml-6.12-clean.log').splitlines()
        cut = next(i for i, line in enumerate(lines)
                   if line.strip() == '# Subtest: iommu_sva_pasid') + 3
        text = '\n'.join(lines[:cut]) + '\n'
        verdict = kernel_log.judge(text)
        self.assertTrue(verdict.tests)
        self.assertFalse(verdict.failed_tests)
        self.assertFalse(verdict.passed)
        self.assertTrue(verdict.unfinished.startswith('iommu_sva_pasid.'),
                        verdict.unfinished)
        self.assertIn('the log ends inside iommu_sva_pasid.',
                      '\n'.join(kernel_log.summarize(verdict)))

    def test_log_cut_off_between_two_suites_never_passes(self):
        lines = read_test_data('uml-6.12-clean.log').splitlines()
        cut = next(i for i, line in enumerate(lines)
                   if line.strip() == 'ok 2 iommu_sva_bind') + 1
        text = '\n'.join(lines[:cut]) + '\n'
        verdict = kernel_log.judge(text)
        self.assertFalse(verdict.passed)
        # No test was cut off: not the evidence a hung mutant needs.
        self.assertEqual((verdict.unfinished, verdict.suites_missing),
                         ('', '8 of 10'))

    def test_kasan_use_after_free_in_a_test_kunit_called_ok(self):
        verdict = self.judge('uml-7.3-kasan-uaf.log')
        self.assertEqual(
            [t.name for t in verdict.failed_tests],
            ['iommu_sva_bind.sva_test_unbind_after_exit_frees_mm'])
        [report] = verdict.reports
        self.assertEqual((report.kinds[0], report.where), ('KASAN', TEST))
        self.assertIn('in iommu_sva_unbind_device', report.first_line)

    def test_kasan_then_panic_cuts_the_log_inside_a_test(self):
        verdict = self.judge('uml-7.3-kasan-panic.log')
        self.assertEqual(verdict.unfinished,
                         'iommu_sva_bind.sva_test_rebind_same_handle')
        self.assertEqual([r.kinds[0] for r in verdict.reports],
                         ['KASAN', 'panic'])
        self.assertEqual({r.where for r in verdict.reports}, {UNFINISHED})

    def test_lockdep_before_a_deadlock(self):
        verdict = self.judge('uml-7.3-lockdep-deadlock.log')
        [report] = verdict.reports
        self.assertEqual((report.kinds[0], report.owner),
                         ('lockdep',
                          'iommu_sva_bind.sva_test_rebind_same_handle'))
        self.assertEqual(verdict.unfinished, report.owner)

    def test_kmemleak_report_fails_the_scanning_test(self):
        verdict = self.judge('uml-7.3-kmemleak.log')
        self.assertEqual([t.name for t in verdict.failed_tests],
                         ['iommu_sva_leak.sva_test_leak_kmemleak_scan'])
        self.assertEqual([r.kinds[0] for r in verdict.reports], ['kmemleak'])


class ReportPatternTest(unittest.TestCase):
    """Report lines as the kernel prints them (mm/kfence, kernel/rcu,
    kernel/watchdog.c, kernel/locking/lockdep.c)."""

    def test_kinds(self):
        for line, kind in (
                ('rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:',
                 'RCU stall'),
                ('rcu: INFO: rcu_sched self-detected stall on CPU',
                 'RCU stall'),
                ('INFO: rcu_sched detected stalls on CPUs/tasks:',
                 'RCU stall'),
                ('watchdog: BUG: soft lockup - CPU#0 stuck for 22s! '
                 '[kunit_try_catch:97]', 'soft lockup'),
                ('watchdog: Watchdog detected hard LOCKUP on cpu 1',
                 'hard lockup'),
                ('INFO: trying to register non-static key.', 'lockdep'),
                ('INFO: task kunit_try_catch:97 blocked for more than 120 '
                 'seconds.', 'hung task'),
                ('UBSAN: array-index-out-of-bounds in '
                 'drivers/iommu/iommu-sva.c:42:7', 'UBSAN'),
                ('Oops: general protection fault, probably for '
                 'non-canonical address 0xdffffc0000000001: 0000 [#1] SMP '
                 'KASAN NOPTI', 'GPF'),
                ('Internal error: Oops: 0000000096000004 [#1] PREEMPT SMP',
                 'Oops'),
                ('refcount_t: underflow; use-after-free.', 'refcount')):
            self.assertEqual(kernel_log.classify(line), kind, line)

    def test_report_glued_to_a_result_line_still_counts(self):
        body = ('    ok 1 iommu_sva_bind\n'
                '    ok 2 iommu_sva_unbindBUG: KASAN: slab-use-after-free '
                'in iommu_sva_unbind_device+0x1/0x2\n')
        verdict = kernel_log.judge(log(suite('iommu_sva', body, 2)))
        self.assertFalse(verdict.passed)
        [report] = verdict.reports
        self.assertEqual(report.kinds, ['KASAN'])
        # The result line still counts as that test's.
        self.assertEqual([t.name for t in verdict.tests],
                         ['iommu_sva.iommu_sva_bind',
                          'iommu_sva.iommu_sva_unbind'])

    def test_every_report_start_is_found_glued(self):
        for line in ('Internal error: Oops: 0000000096000004 [#1] SMP',
                     '[ BUG: bad unlock balance detected! ]',
                     'unreferenced object 0x6000 (size 32):',
                     'general protection fault, probably for non-canonical',
                     'watchdog: Watchdog detected hard LOCKUP on cpu 1',
                     'INFO: task kunit_try_catch:9 blocked for more than 2 '
                     'seconds.'):
            with self.subTest(line):
                text = log(suite('iommu_sva', f'    ok 1 a{line}\n', 1))
                [report] = kernel_log.judge(text).reports
                self.assertEqual(report.first_line, line)

    def test_report_after_the_last_suite_fails(self):
        verdict = kernel_log.judge(log(PASSING_SUITE, trailer=KASAN))
        self.assertFalse(verdict.passed)
        self.assertEqual([r.where for r in verdict.reports], [OUTSIDE])


TRIGGER = 'sva_kunit_report_trigger'

# Logs of the test-only trigger suite, one case per boot
# (test_data/report-trigger/): the log, the case, the kind of every report
# in it, KUnit's own verdict on the case, and how the first report starts.
TRIGGER_LOGS = (
    ('uml-7.3-warn.log', 'report_trigger_warn_on', 'WARNING', PASS,
     'WARNING: drivers/misc/sva-report-trigger/report_trigger_kunit.c:'),
    # Two splats: saturation, then underflow.  In 7.3 the "WARNING:" line
    # comes first, then "refcount_t: ...".
    ('uml-7.3-refcount.log', 'report_trigger_refcount', 'refcount', PASS,
     'WARNING: lib/refcount.c:'),
    ('uml-7.3-rcu-stall.log', 'report_trigger_rcu_stall', 'RCU stall', PASS,
     'rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:'),
    ('uml-7.3-soft-lockup.log', 'report_trigger_soft_lockup', 'soft lockup',
     PASS, 'watchdog: BUG: soft lockup - CPU#0 stuck for '),
    # KUnit's runner (PID 1) waits for the case uninterruptibly: it is
    # reported first, then the case's own thread.
    ('uml-7.3-hung-task.log', 'report_trigger_hung_task', 'hung task', PASS,
     'INFO: task swapper/0:1 blocked for more than 20 seconds.'),
    # KUnit fails the case itself too (it hooks UBSAN's reports).
    ('uml-7.3-ubsan.log', 'report_trigger_ubsan_bounds', 'UBSAN', FAIL,
     'UBSAN: array-index-out-of-bounds in '),
    ('uml-7.3-lockdep-non-static-key.log',
     'report_trigger_lockdep_non_static_key', 'lockdep', PASS,
     'INFO: trying to register non-static key.'),
    # "BUG: kernel NULL pointer dereference", then "Oops: Oops: 0000
    # [#1]"; KUnit's thread dies, and KUnit fails the case.
    ('x86_64-7.3-oops.log', 'report_trigger_oops', 'Oops', FAIL,
     'BUG: kernel NULL pointer dereference, address: 0000000000000000'),
)


class RealReportKindsTest(unittest.TestCase):
    """Each kind of report as the kernel printed it, from the trigger suite
    (test_data/report-trigger/report_trigger_kunit.c, test_data/README)."""

    def test_each_report_fails_the_test_it_happened_in(self):
        for name, case, kind, status, start in TRIGGER_LOGS:
            with self.subTest(name):
                verdict = kernel_log.judge(read_test_data(name))
                test = f'{TRIGGER}.{case}'
                self.assertFalse(verdict.passed)
                self.assertEqual([(t.name, t.kunit_status)
                                  for t in verdict.failed_tests],
                                 [(test, status)])
                self.assertTrue(verdict.reports)
                for report in verdict.reports:
                    self.assertEqual((by_rank(report.kinds)[0], report.where,
                                      report.owner), (kind, TEST, test))
                self.assertTrue(verdict.reports[0].first_line.startswith(
                    start), verdict.reports[0].first_line)
                first = next(iter(kernel_log.summarize(verdict)))
                self.assertTrue(first.startswith(
                    f'{test}: KUnit said ok but the kernel log has {kind}'
                    if status == PASS else f'{test}: {FAIL}'), first)

    def test_refcount_saturation_and_underflow(self):
        verdict = kernel_log.judge(read_test_data('uml-7.3-refcount.log'))
        self.assertEqual([r.kinds for r in verdict.reports],
                         [['WARNING', 'refcount']] * 2)
        self.assertTrue(verdict.reports[0].describe().startswith(
            f'refcount+WARNING in {TRIGGER}.report_trigger_refcount '))

    def test_hung_task_reports_both_blocked_tasks_in_one_splat(self):
        text = read_test_data('uml-7.3-hung-task.log')
        [report] = kernel_log.judge(text).reports
        self.assertEqual(report.kinds, ['hung task', 'hung task'])
        self.assertIn('INFO: task kunit_try_catch:', text)

    def test_uml_null_dereference_panics_inside_the_test(self):
        # UML has no Oops: a kernel-mode fault in a kernel thread is a
        # panic, and the log ends before the case's result line.  With
        # one case per boot, the log cannot name it better than this.
        verdict = kernel_log.judge(read_test_data('uml-7.3-oops.log'))
        self.assertFalse(verdict.passed)
        self.assertEqual(verdict.tests, [])
        self.assertEqual(verdict.unfinished, f'{TRIGGER}.<test #1>')
        [report] = verdict.reports
        self.assertEqual((by_rank(report.kinds)[0], report.where,
                          report.owner),
                         ('panic', UNFINISHED, f'{TRIGGER}.<test #1>'))
        self.assertEqual(report.first_line,
                         'Kernel panic - not syncing: Segfault with no mm')

    def test_real_report_lines_glued_to_a_result_line_still_count(self):
        # No captured log has a glued line; glue each kind's real first
        # line to the result line of the test before the one it ran in.
        for name, _, kind, _, _ in TRIGGER_LOGS + (
                ('uml-7.3-kasan-uaf.log', '', 'KASAN', '', ''),
                ('uml-7.3-kmemleak.log', '', 'kmemleak', '', ''),
                ('uml-7.3-oops.log', '', 'panic', '', '')):
            line = next(strip for strip in (
                kernel_log.PREFIX.sub('', raw, count=1)
                for raw in read_test_data(name).splitlines())
                        if kernel_log.classify(strip) == kind)
            with self.subTest(name, line=line):
                body = f'    ok 1 a{line}\n    ok 2 b\n'
                verdict = kernel_log.judge(log(suite('iommu_sva', body, 2)))
                self.assertFalse(verdict.passed)
                self.assertEqual([(t.name, t.kunit_status)
                                  for t in verdict.tests],
                                 [('iommu_sva.a', PASS),
                                  ('iommu_sva.b', PASS)])
                [report] = verdict.reports
                start = kernel_log.GLUED_REPORT.search(line).start()
                self.assertEqual((by_rank(report.kinds)[0], report.owner,
                                  report.first_line),
                                 (kind, 'iommu_sva.b', line[start:]))


if __name__ == '__main__':
    unittest.main()
