import contextlib
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


def script(tree, name, text):
    write(tree, name, text)
    return [sys.executable, name]


class RunKunitTest(unittest.TestCase):

    def test_streams_output_and_stops_at_the_stage_that_failed(self):
        with tempfile.TemporaryDirectory() as tree:
            ok = script(tree, 'ok.py', b'print("configured")\n')
            fail = script(tree, 'fail.py', b'import sys\n'
                          b'print("oops", file=sys.stderr)\nsys.exit(3)\n')
            out = io.StringIO()
            run = kunit_runner.run_kunit(
                tree, [(kunit_runner.CONFIGURING, ok),
                       (kunit_runner.BUILDING, fail),
                       (kunit_runner.STARTING, ok)], out, dict(os.environ))
        self.assertEqual((run.returncode, run.stage, run.timed_out),
                         (3, kunit_runner.BUILDING, False))
        self.assertFalse(run.kernel_ran)
        self.assertEqual(out.getvalue().count('configured'), 1)
        self.assertIn('oops', out.getvalue())
        self.assertIn('sva-kunit: ' + sys.executable + ' fail.py',
                      out.getvalue())


# Starts a grandchild that ignores SIGINT (as a
# stuck UML helper might), records its pid and waits forever.
HANGING_KUNIT = b'''import subprocess, sys, time
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
        quick = script(tree, 'ok.py', b'')
        hanging = script(tree, 'k.py', HANGING_KUNIT)
        out = io.StringIO()
        with mock.patch.object(kunit_runner, 'STOP_GRACE_S', 0.3):
            try:
                return tree, kunit_runner.run_kunit(
                    tree, [(kunit_runner.CONFIGURING, quick),
                           (kunit_runner.BUILDING, hanging),
                           (kunit_runner.STARTING, quick)], out,
                    dict(os.environ), **kwargs), out
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

    def test_what_the_group_kill_missed_is_killed_one_by_one(self):
        # As if the group's signals had reached kunit.py alone.
        def kill_leader_only(pgid, signum):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pgid, signum)
        with mock.patch.object(os, 'killpg', kill_leader_only):
            _, run, _ = self.run_hanging(timeout=1.0)
        self.assertTrue(run.timed_out)
        self.assert_grandchild_gone()

    def test_interrupt_stops_the_group_and_propagates(self):
        def interrupt(signum, frame):
            raise KeyboardInterrupt
        old = signal.signal(signal.SIGALRM, interrupt)
        self.addCleanup(signal.signal, signal.SIGALRM, old)
        self.addCleanup(signal.setitimer, signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        with self.assertRaises(KeyboardInterrupt):
            self.run_hanging(timeout=60)
        self.assert_grandchild_gone()

    def test_a_quick_run_is_not_stopped(self):
        with tempfile.TemporaryDirectory() as tree:
            quick = script(tree, 'k.py', b'')
            run = kunit_runner.run_kunit(
                tree, [(stage, quick) for stage in kunit_runner.STAGES],
                io.StringIO(), dict(os.environ), timeout=30)
        self.assertEqual((run.returncode, run.stage, run.timed_out),
                         (0, kunit_runner.STARTING, False))
        self.assertTrue(run.kernel_ran)


if __name__ == '__main__':
    unittest.main()
