"""Run the tree's kunit.py: `config`, `build` and `exec`, one process each,
so that the stage that failed is the one whose process did; tee their
output and stop them (process group and all) on a time limit."""

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, TextIO, Tuple

STOP_GRACE_S = 10.0    # from SIGINT to SIGKILL when stopping kunit.py
READER_JOIN_S = 5.0    # for the last output once kunit.py has gone

# kunit.py's subcommands: the stages of a run, and `run` (all three in
# one process, what users type; only `bench` runs it).
CONFIGURING, BUILDING, STARTING, RUN = 'config', 'build', 'exec', 'run'
STAGES = (CONFIGURING, BUILDING, STARTING)


@dataclass
class KunitRun:
    returncode: int
    stage: str  # the last stage started (CONFIGURING, BUILDING, STARTING)
    timed_out: bool = False  # stopped by run_kunit's timeout

    @property
    def kernel_ran(self) -> bool:
        return self.stage == STARTING


def test_log_path(build_dir: str) -> str:
    return os.path.join(build_dir, 'test.log')  # the raw kernel log


def _tee(stream: TextIO, out: TextIO) -> None:
    try:
        for line in stream:
            out.write(line)
            out.flush()
    except (OSError, ValueError):
        pass  # the pipe or `out` went away while we were stopping


def _exited(pid: int) -> bool:
    """Has the child exited?  Leaves it a zombie (WNOWAIT), so its pid --
    the process group id -- cannot be reused before we signal the group."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def stop_group(proc: 'subprocess.Popen[str]') -> None:
    """Stop kunit.py and everything it started (make, gcc, UML).

    SIGINT first: kunit.py's handler then terminates UML and flushes
    test.log (a lockdep splat before a deadlock is in its last,
    unflushed lines), and make removes half-written objects.  Whatever
    is left after STOP_GRACE_S (e.g. UML helpers) gets SIGKILL.
    """
    deadline = time.monotonic() + STOP_GRACE_S
    for signum in (signal.SIGINT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)
        while not _exited(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    proc.wait()


def run_kunit(tree: str, commands: Sequence[Tuple[str, Sequence[str]]],
              out: TextIO = sys.stdout,
              env: Optional[Mapping[str, str]] = None,
              timeout: Optional[float] = None) -> KunitRun:
    """Run each (stage, argv) in the tree until one fails, streaming the
    output to `out`, for at most `timeout` seconds in all."""
    deadline = None if timeout is None else time.monotonic() + timeout
    # Without PYTHONUNBUFFERED the child's prints reach us in 4 KiB lumps.
    child_env = dict(os.environ if env is None else env, PYTHONUNBUFFERED='1')
    for stage, argv in commands:
        out.write('sva-kunit: ' + shlex.join(argv) + '\n')
        out.flush()
        # A session (and so a process group) of its own lets us stop
        # make's and UML's processes too, not just kunit.py.  It also
        # keeps the terminal's Ctrl-C from reaching kunit.py directly, so
        # on an interrupt we stop the group ourselves; stdin is not the
        # terminal, which kunit.py then leaves alone (no stty).
        proc = subprocess.Popen(list(argv), cwd=tree, env=child_env,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                errors='backslashreplace', bufsize=1,
                                start_new_session=True)
        assert proc.stdout is not None
        # The output is read by a thread so that this one can keep the
        # clock, even while kunit.py (or a deadlocked kernel) prints
        # nothing.
        reader = threading.Thread(target=_tee, args=(proc.stdout, out),
                                  daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(None if deadline is None
                      else max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            stop_group(proc)
            timed_out = True
        except BaseException:  # KeyboardInterrupt, or SIGTERM turned into it
            stop_group(proc)
            raise
        finally:
            # A process that escaped the group could hold the pipe open
            # forever; then the (daemon) reader is left behind.
            reader.join(READER_JOIN_S)
            if not reader.is_alive():
                proc.stdout.close()
        if timed_out:
            out.write(f'sva-kunit: stopped kunit.py after {timeout:g} s\n')
            out.flush()
        if proc.returncode or timed_out:
            break
    return KunitRun(proc.returncode, stage, timed_out)
