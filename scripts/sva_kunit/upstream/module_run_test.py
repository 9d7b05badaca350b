"""The module run's init script and verdict, on the console output of a
real modular boot (test_data/uml-7.3-modules.log)."""

import os
import stat
import tempfile
import unittest

from ..run.kernel_log_test import read_test_data
from ..testing_support import write
from . import module_run

LOG = read_test_data('uml-7.3-modules.log')


class JudgeTest(unittest.TestCase):

    def test_a_real_modular_boot_passes(self):
        run = module_run.judge_log(LOG)
        self.assertTrue(run.passed, run.details)
        self.assertEqual(run.details, ['10 suites, 48 tests passed as '
                                       'modules; kernel log clean'])

    def test_a_module_that_did_not_load(self):
        log = LOG.replace('KTAP version 1\n1..1\n', module_run.INSMOD_FAILED
                          + 'iommu-sva-model-test.ko\n', 1)
        model = log.index('    # Subtest: iommu_sva_model')
        run = module_run.judge_log(log[:model] + 'reboot: Power down\n')
        self.assertFalse(run.passed)
        self.assertEqual(run.details[:2], [
            'iommu-sva-model-test.ko did not load',
            'suite iommu_sva_model did not run'])

    def test_a_built_in_only_suite_must_not_run_as_a_module(self):
        log = LOG.replace('iommu_sva_nobind', 'iommu_sva_fork')
        run = module_run.judge_log(log)
        self.assertFalse(run.passed)
        self.assertIn('suite iommu_sva_fork ran, though it needs symbols a '
                      'module cannot use', run.details)

    def test_a_failed_case_or_a_report_fails(self):
        failed = LOG.replace('    ok 1 sva_test_race_bind_unbind\n',
                             '    not ok 1 sva_test_race_bind_unbind\n')
        self.assertIn('iommu_sva_race.sva_test_race_bind_unbind',
                      ' '.join(module_run.judge_log(failed).details))
        warned = LOG.replace('reboot: Power down', 'WARNING: CPU: 0 PID: 1 '
                             'at drivers/iommu/iommu.c:1 x\nreboot: Power '
                             'down')
        self.assertFalse(module_run.judge_log(warned).passed)

    def test_no_output_is_no_pass(self):
        self.assertFalse(module_run.judge_log('').passed)


class InitTest(unittest.TestCase):

    def test_the_script(self):
        script = module_run.init_script('/b d')
        lines = script.splitlines()
        self.assertEqual(lines[:2], ['#!/bin/busybox sh',
                                     '/bin/busybox mount -t proc proc '
                                     '/proc'])
        self.assertEqual(lines[2], "busybox insmod '/b d/drivers/iommu/"
                         "fake-iommu/fake-iommu.ko' || echo \"sva-kunit: "
                         'insmod failed: fake-iommu.ko"')
        self.assertEqual(len(lines), 2 + len(module_run.MODULES) + 1)
        self.assertEqual(lines[-1], 'exec /bin/busybox poweroff -f')

    def test_missing_modules_are_said_before_any_boot(self):
        with tempfile.TemporaryDirectory() as build:
            run = module_run.run_modules(build, build)
            self.assertFalse(run.passed)
            self.assertEqual(run.details, [f'{module_run.MODULES[0]} was '
                                           'not built'])

    def test_a_kernel_that_hangs_is_stopped(self):
        with tempfile.TemporaryDirectory() as build:
            for rel in module_run.MODULES:
                write(build, rel, b'')
            write(build, 'linux', b'#!/bin/sh\necho KTAP version 1\n'
                  b'exec sleep 30\n')
            os.chmod(os.path.join(build, 'linux'), stat.S_IRWXU)
            if not os.access(module_run.BUSYBOX, os.X_OK):
                self.skipTest(f'needs {module_run.BUSYBOX}')
            run = module_run.run_modules(build, build, timeout=0.5)
            self.assertFalse(run.passed)
            self.assertEqual(run.details,
                             ['the kernel still ran after 0 s'])
            self.assertIn('KTAP version 1', run.log)


if __name__ == '__main__':
    unittest.main()
