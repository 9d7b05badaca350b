import io
import os
import signal
import sys
import tempfile
import time
import unittest
from unittest import mock

from ..testing_support import write
from . import kunit_runner


class KunitCommandTest(unittest.TestCase):

    def test_minimal(self):
        self.assertEqual(kunit_runner.kunit_command('/b', jobs=2), [
            'python3', 'tools/testing/kunit/kunit.py', 'run',
            '--kunitconfig=drivers/iommu', '--build_dir=/b', '--arch=um',
            '--jobs=2', '--kernel_args=kasan_multi_shot'])

    def test_everything(self):
        argv = kunit_runner.kunit_command(
            '/b', 'um', 4, 'iommu_sva.*', '/r.json', ['CONFIG_KASAN=y'],
            ['CC=ccache gcc'])
        self.assertEqual(argv[8:], ['--json=/r.json',
                                    '--kconfig_add=CONFIG_KASAN=y',
                                    '--make_options=CC=ccache gcc',
                                    'iommu_sva.*'])

    def test_exec_boots_with_the_same_options_but_jobs(self):
        argv = kunit_runner.kunit_command(
            '/b', 'arm64', 4, 'iommu_sva.*', '/r.json', ['CONFIG_KASAN=y'],
            ['CC=ccache gcc'], 'aarch64-linux-gnu-', ['-smp 2'],
            subcommand=kunit_runner.EXEC)
        run = kunit_runner.kunit_command(
            '/b', 'arm64', 4, 'iommu_sva.*', '/r.json', ['CONFIG_KASAN=y'],
            ['CC=ccache gcc'], 'aarch64-linux-gnu-', ['-smp 2'])
        self.assertEqual(argv[2], 'exec')
        self.assertEqual(argv[3:], [a for a in run[3:] if a != '--jobs=4'])


class RunKunitTest(unittest.TestCase):

    def test_streams_output_and_tracks_stage(self):
        with tempfile.TemporaryDirectory() as tree:
            write(tree, 'k.py', b'import sys\n'
                  b'print("[1] Configuring KUnit Kernel ...")\n'
                  b'print("[2] Building KUnit Kernel ...")\n'
                  b'print("oops", file=sys.stderr)\nsys.exit(3)\n')
            out = io.StringIO()
            run = kunit_runner.run_kunit(tree, [sys.executable, 'k.py'], out,
                                         dict(os.environ))
        self.assertEqual((run.returncode, run.stage),
                         (3, kunit_runner.BUILDING))
        self.assertFalse(run.kernel_ran)
        self.assertIn('Building KUnit Kernel', out.getvalue())
        self.assertIn('oops', out.getvalue())


# Prints the build stage, starts a grandchild that ignores SIGINT (as a
# stuck UML helper might), records its pid and waits forever.
HANGING_KUNIT = b'''import subprocess, sys, time
print("[1] Building KUnit Kernel ...")
child = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                          "signal.signal(signal.SIGINT, signal.SIG_IGN); "
                          "print(1, flush=True); time.sleep(60)"],
                         stdout=subprocess.PIPE)
child.stdout.readline()
with open("grandchild.pid", "w") as f:
    f.write(str(child.pid))
time.sleep(60)
'''


def gone(pid: int) -> bool:
    """Dead (or a zombie waiting for init to reap it)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except FileNotFoundError:
        return True


class TimeoutTest(unittest.TestCase):

    def run_hanging(self, **kwargs):
        tree = self.enterContext(tempfile.TemporaryDirectory())
        write(tree, 'k.py', HANGING_KUNIT)
        out = io.StringIO()
        with mock.patch.object(kunit_runner, 'STOP_GRACE_S', 0.3):
            try:
                return tree, kunit_runner.run_kunit(
                    tree, [sys.executable, 'k.py'], out, dict(os.environ),
                    **kwargs), out
            finally:
                with open(os.path.join(tree, 'grandchild.pid')) as f:
                    self.grandchild = int(f.read())

    def assert_grandchild_gone(self):
        deadline = time.monotonic() + 5
        while not gone(self.grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(gone(self.grandchild))

    def test_kills_the_whole_process_group(self):
        _, run, out = self.run_hanging(timeout=1.0)
        self.assertTrue(run.timed_out)
        self.assertEqual(run.stage, kunit_runner.BUILDING)
        self.assertIn('stopped kunit.py after 1 s', out.getvalue())
        self.assert_grandchild_gone()

    def test_interrupt_stops_the_group_and_propagates(self):
        def interrupt(signum, frame):
            raise KeyboardInterrupt
        old = signal.signal(signal.SIGALRM, interrupt)
        self.addCleanup(signal.signal, signal.SIGALRM, old)
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        with self.assertRaises(KeyboardInterrupt):
            self.run_hanging(timeout=60)
        self.assert_grandchild_gone()

    def test_a_quick_run_is_not_stopped(self):
        with tempfile.TemporaryDirectory() as tree:
            write(tree, 'k.py', b'print("[2] Starting KUnit Kernel ...")\n')
            run = kunit_runner.run_kunit(tree, [sys.executable, 'k.py'],
                                         io.StringIO(), dict(os.environ),
                                         timeout=30)
        self.assertEqual((run.returncode, run.stage, run.timed_out),
                         (0, kunit_runner.STARTING, False))


if __name__ == '__main__':
    unittest.main()
