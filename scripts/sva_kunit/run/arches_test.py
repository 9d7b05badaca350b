import os
import subprocess
import tempfile
import unittest

from ..errors import SetupError
from . import arches


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
        env = arches.tcg_env(os.path.join(self.tmp, 'cache'),
                               'qemu-system-x86_64', self.env)
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
        arches.tcg_env(cache, 'qemu-system-x86_64', self.env)
        before = os.stat(target).st_ino
        arches.tcg_env(cache, 'qemu-system-x86_64', self.env)
        self.assertEqual(os.stat(target).st_ino, before)
        with open(target, 'a') as f:
            f.write('# edited\n')
        arches.tcg_env(cache, 'qemu-system-x86_64', self.env)
        with open(target) as f:
            self.assertNotIn('# edited', f.read())

    def test_missing_qemu_is_a_setup_error(self):
        with self.assertRaisesRegex(SetupError, 'qemu-system-aarch64 not '
                                    'found'):
            arches.tcg_env(self.tmp, 'qemu-system-aarch64',
                           {'PATH': self.bin})


if __name__ == '__main__':
    unittest.main()
