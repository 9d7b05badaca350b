"""One command at a time per tree and build dir, against a real second
process holding the lock."""

import fcntl
import io
import os
import subprocess
import sys
import threading
import time
import unittest
from typing import Callable, List, Optional

from . import cli, locks
from .cmd_mutate_test import MutateTestCase
from .errors import SetupError
from .mutation import mutation_journal
from .mutation.mutants import Hunk, Mutant

SCRIPTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SVA = 'drivers/iommu/iommu-sva.c'
MUTANT = Mutant('m', ('I2',), SVA, 'd', (Hunk('// sva\n', '// MUTANT\n'),))

# Holds the tree's lock (and a build dir's, if named) like `mutate` does,
# with a mutant in the tree, until a line arrives on stdin.
HOLDER = '''
import io, sys
from sva_kunit import locks
from sva_kunit.mutation import mutation_journal
from sva_kunit.mutation.mutants import Hunk, Mutant
tree, cache, build, mutate = sys.argv[1:]
with locks.session():
    locks.hold_tree(tree, cache, io.StringIO())
    if build:
        locks.hold_build_dir(build, io.StringIO())
    mutant = Mutant('m', ('I2',), 'drivers/iommu/iommu-sva.c', 'd',
                    (Hunk('// sva\\n', '// MUTANT\\n'),))
    record = mutation_journal.apply(tree, mutant) if mutate else None
    print('held', flush=True)
    sys.stdin.readline()
    if record:
        mutation_journal.restore(tree, record)
'''


class LockTestCase(MutateTestCase):

    def hold(self, build: str = '', mutate: bool = False,
             tree: Optional[str] = None) -> subprocess.Popen:
        """A second process holding the locks until release() is called."""
        proc = subprocess.Popen(
            [sys.executable, '-c', HOLDER, tree or self.tree, self.cache,
             build, '1' if mutate else ''], cwd=SCRIPTS_DIR,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.stdin.close)
        self.assertEqual(proc.stdout.readline(), 'held\n')
        return proc

    def release(self, proc: subprocess.Popen) -> None:
        proc.stdin.write('\n')
        proc.stdin.flush()
        self.assertEqual(proc.wait(10), 0)

    def in_background(self, call: Callable[[io.StringIO], object]
                      ) -> tuple:
        """Start call(out) in a thread; wait until it says it is waiting."""
        out = io.StringIO()
        result: List[object] = []
        thread = threading.Thread(target=lambda: result.append(call(out)))
        thread.start()
        self.addCleanup(thread.join, 10)
        deadline = time.monotonic() + 10
        while 'waiting for' not in out.getvalue():
            self.assertLess(time.monotonic(), deadline, out.getvalue())
            self.assertTrue(thread.is_alive(), out.getvalue())
            time.sleep(0.01)
        return thread, out, result

    def main_in_background(self, *argv: str) -> tuple:
        err = io.StringIO()
        return self.in_background(lambda out: cli.main(
            list(argv), out, err, repo_root=self.repo))

    def read_sva(self) -> bytes:
        with open(os.path.join(self.tree, SVA), 'rb') as f:
            return f.read()


class LockTest(LockTestCase):

    def test_second_holder_waits_and_names_the_first(self):
        proc = self.hold()
        thread, out, _ = self.in_background(
            lambda out: locks.hold_tree(self.tree, self.cache, out))
        time.sleep(0.2)
        self.assertTrue(thread.is_alive())
        self.release(proc)
        thread.join(10)
        self.assertFalse(thread.is_alive())
        [line] = out.getvalue().splitlines()  # said once
        self.assertIn(f'sva-kunit: waiting for the kernel tree {self.tree}, '
                      f'which pid {proc.pid} (-c {self.tree} ', line)
        [path] = locks._held
        self.assertEqual(os.path.dirname(path), f'{self.cache}/locks')
        self.assertIn(f'(lock {path})', line)
        os.close(locks._held.pop(path))

    def assert_free(self, path: str, free: bool) -> None:
        with open(path) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.assertFalse(free, path)
            else:
                self.assertTrue(free, path)

    def test_a_process_takes_a_lock_once_and_a_session_drops_it(self):
        with locks.session():
            locks.hold_tree(self.tree, self.cache, io.StringIO())
            locks.hold_tree(self.tree + '/.', self.cache, io.StringIO())
            [path] = locks._held
            self.assert_free(path, False)
        self.assertEqual(locks._held, {})
        self.assert_free(path, True)
        with locks.session():
            built = locks.hold_build_dir(os.path.join(self.cache, 'b'),
                                         io.StringIO())
            self.assertEqual(os.listdir(built), [locks.BUILD_LOCK_NAME])
            self.assert_free(os.path.join(built, locks.BUILD_LOCK_NAME),
                             False)
        self.assert_free(os.path.join(built, locks.BUILD_LOCK_NAME), True)

    def test_run_waits_for_mutate_instead_of_repairing_its_mutant(self):
        original = self.read_sva()
        proc = self.hold(mutate=True)
        thread, out, result = self.main_in_background(
            'run', f'--kernel={self.tree}', f'--cache-dir={self.cache}')
        time.sleep(0.2)
        self.assertEqual(self.read_sva(), original.replace(b'// sva',
                                                           b'// MUTANT'))
        self.assertNotIn('repaired', out.getvalue())
        self.assertEqual(self.calls(), [])
        self.release(proc)  # mutate restores the file, then ends
        thread.join(10)
        self.assertEqual(result, [0], out.getvalue())
        self.assertNotIn('repaired', out.getvalue())
        self.assertEqual(self.read_sva(), original)
        self.assertFalse(os.path.exists(
            mutation_journal.journal_path(self.tree)))

    def test_install_uninstall_and_mutate_wait_for_the_tree(self):
        for argv in (('install', f'--kernel={self.tree}',
                      f'--cache-dir={self.cache}'),
                     ('uninstall', f'--kernel={self.tree}',
                      f'--cache-dir={self.cache}'),
                     ('mutate', f'--kernel={self.tree}',
                      f'--cache-dir={self.cache}', '--only=known')):
            proc = self.hold()
            thread, out, result = self.main_in_background(*argv)
            time.sleep(0.1)
            self.assertTrue(thread.is_alive(), argv)
            self.release(proc)
            thread.join(10)
            self.assertEqual(result, [0], argv)
            self.assertIn(f'which pid {proc.pid}', out.getvalue())

    def test_two_trees_sharing_a_build_dir_take_turns(self):
        build = os.path.join(self._tmp.name, 'shared-build')
        other = os.path.join(self._tmp.name, 'other-tree')
        os.mkdir(other)
        proc = self.hold(build=build, tree=other)
        thread, out, result = self.main_in_background(
            'run', f'--kernel={self.tree}', f'--cache-dir={self.cache}',
            f'--build-dir={build}')
        self.assertIn(f'waiting for the build directory {build}, which pid '
                      f'{proc.pid}', out.getvalue())
        self.assertEqual(self.calls(), [])
        self.release(proc)
        thread.join(10)
        self.assertEqual(result, [0], out.getvalue())

    def test_build_dir_that_is_a_file_is_one_line_exit_2(self):
        a_file = os.path.join(self._tmp.name, 'a-file')
        with open(a_file, 'w'):
            pass
        for command in ('run', 'mutate'):
            rc, out, err = self.main(command, f'--kernel={self.tree}',
                                     f'--cache-dir={self.cache}',
                                     f'--build-dir={a_file}')
            self.assertEqual(rc, 2, out + err)
            self.assertEqual(err, f'sva-kunit: error: sva-kunit {command}: '
                             f'argument --build-dir: {a_file} is not a '
                             f'directory; see sva-kunit {command} --help\n')
        rc, _, err = self.main('run', f'--cache-dir={self.cache}',
                               f'--build-dir={a_file}/sub')
        self.assertEqual(rc, 2)
        self.assertIn(f'{a_file}/sub cannot be made: {a_file} is not a '
                      'directory', err)
        with self.assertRaises(SetupError):
            locks.hold_tree(self.tree, a_file, io.StringIO())
        self.assertEqual(self.calls(), [])


if __name__ == '__main__':
    unittest.main()
