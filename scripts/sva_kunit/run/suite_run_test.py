import dataclasses
import os
import subprocess
import tempfile
import unittest
from unittest import mock

from ..errors import SetupError
from .kunit_runner import BUILDING, CONFIGURING, RUN, STARTING
from ..testing_support import write
from .suite_run import (UML_SMP_ARGS, RunOptions, kunit_argv, tcg_env,
                        with_smp)


class KunitArgvTest(unittest.TestCase):

    @mock.patch('shutil.which', lambda tool: '/usr/bin/' + tool)
    def test_each_stage_gets_the_options_it_takes(self):
        options = RunOptions('/c', filter_glob='iommu_sva.*',
                             kconfig_add=['CONFIG_KASAN=y'],
                             qemu_args=['-smp 2'], kernel_args=['k=1'],
                             run_timeout=60, arch='arm64', jobs=4,
                             repo_root='/r', json_path='/r.json')

        def command(stage):
            return kunit_argv(options, stage, '/b')
        common = ['--kunitconfig=drivers/iommu',
                  '--kunitconfig=tools/testing/kunit/configs/iommu_sva.config',
                  '--build_dir=/b', '--arch=arm64']
        # The idle detectors first: the user's options override them.
        tail = ['--kconfig_add=CONFIG_DETECT_HUNG_TASK=y',
                '--kconfig_add=CONFIG_DEFAULT_HUNG_TASK_TIMEOUT=0',
                '--kconfig_add=CONFIG_SOFTLOCKUP_DETECTOR=y',
                '--kconfig_add=CONFIG_KASAN=y',
                '--make_options=CC=ccache aarch64-linux-gnu-gcc',
                '--cross_compile=aarch64-linux-gnu-',
                '--qemu_args=-cpu max,pauth-impdef=on', '--qemu_args=-smp 2']
        boot = ['--kernel_args=kasan_multi_shot', '--kernel_args=k=1',
                '--timeout=60', '--json=/r.json']
        self.assertEqual(command(CONFIGURING), [
            'python3', 'tools/testing/kunit/kunit.py', 'config', *common,
            *tail])
        self.assertEqual(command(BUILDING)[2:], ['build', *common,
                                                 '--jobs=4', *tail])
        self.assertEqual(command(STARTING)[2:], ['exec', *common, *boot,
                                                 *tail, 'iommu_sva.*'])
        self.assertEqual(command(RUN)[2:], ['run', *common, '--jobs=4',
                                            *boot, *tail, 'iommu_sva.*'])


class WrapperTest(unittest.TestCase):

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.bin = os.path.join(self.tmp, 'bin')
        os.makedirs(self.bin)
        # A "QEMU" that prints the arguments it got, one per line.
        fake = os.path.join(self.bin, 'qemu-system-x86_64')
        with open(fake, 'w') as f:
            f.write('#!/bin/sh\nfor a do echo "$a"; done\n')
        os.chmod(fake, 0o755)
        self.env = {'PATH': self.bin + os.pathsep + '/usr/bin:/bin'}

    def run_qemu(self, *args: str) -> list:
        env = tcg_env(RunOptions(os.path.join(self.tmp, 'cache'),
                                 arch='x86_64'), self.env)
        proc = subprocess.run(['qemu-system-x86_64', *args], env=env,
                              capture_output=True, text=True, check=True)
        return proc.stdout.splitlines()

    def test_keeps_only_tcg_as_kunit_py_passes_it(self):
        # The order kunit.py (v6.13 and later) uses.
        self.assertEqual(self.run_qemu(
            '-nodefaults', '-accel', 'kvm', '-accel', 'hvf', '-accel',
            'tcg', '-serial', 'stdio', '-append', 'a b'),
            ['-nodefaults', '-accel', 'tcg', '-serial', 'stdio',
             '-append', 'a b'])

    def test_arguments_without_accel_pass_unchanged(self):
        args = ['-m', '1024', '-append', "kunit.filter_glob='x*' y", '']
        self.assertEqual(self.run_qemu(*args), args)

    def test_rewritten_only_when_the_real_qemu_moved(self):
        cache = os.path.join(self.tmp, 'cache')
        target = os.path.join(cache, 'qemu-tcg', 'qemu-system-x86_64')
        options = RunOptions(cache, arch='x86_64')
        tcg_env(options, self.env)
        before = os.stat(target).st_ino
        tcg_env(options, self.env)
        self.assertEqual(os.stat(target).st_ino, before)
        with open(target, 'a') as f:
            f.write('# edited\n')
        tcg_env(options, self.env)
        with open(target) as f:
            self.assertNotIn('# edited', f.read())

    def test_missing_qemu_is_a_setup_error(self):
        with self.assertRaisesRegex(SetupError, 'qemu-system-aarch64 not '
                                    'found'):
            tcg_env(RunOptions(self.tmp, arch='arm64'), {'PATH': self.bin})


if __name__ == '__main__':
    unittest.main()


class WithSmpTest(unittest.TestCase):
    """UML is built for SMP where it can be, and boots two CPUs on --smp;
    QEMU gets -smp 2."""

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tree = tmp.name
        self.options = RunOptions(cache_dir=tmp.name, kernel_args=('x=1',))

    def smp_tree(self) -> None:
        write(self.tree, 'arch/um/Kconfig', b'config SMP\n')
        write(self.tree, 'arch/um/os-Linux/start_up.c',
              b'__uml_setup("seccomp=", uml_seccomp_config,\n')

    def test_uml_with_smp_is_built_for_it_and_boots_one_cpu(self):
        self.smp_tree()
        got = with_smp(self.options, self.tree)
        self.assertEqual((got.kconfig_add, got.kernel_args),
                         (('CONFIG_SMP=y',), ('x=1',)))
        got = with_smp(replace_smp(self.options), self.tree)
        self.assertEqual(got.kernel_args, (*UML_SMP_ARGS, 'x=1'))

    def test_uml_without_smp_is_left_alone_and_refuses_smp(self):
        write(self.tree, 'arch/um/Kconfig', b'config SMP_BROKEN\n')
        self.assertIs(with_smp(self.options, self.tree), self.options)
        with self.assertRaisesRegex(SetupError, 'no SMP'):
            with_smp(replace_smp(self.options), self.tree)

    def test_qemu_gets_two_cpus_only_when_asked(self):
        qemu = RunOptions(cache_dir=self.tree, arch='arm64')
        self.assertIs(with_smp(qemu, self.tree), qemu)
        got = with_smp(replace_smp(qemu), self.tree)
        self.assertEqual((got.qemu_args, got.kconfig_add),
                         (('-smp 2',), ('CONFIG_SMP=y',)))


def replace_smp(options: RunOptions) -> RunOptions:
    return dataclasses.replace(options, smp=True)
