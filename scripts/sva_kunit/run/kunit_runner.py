"""Run kunit.py's `config`, `build` and `exec`, one process each (so that
a failure names its stage); tee their output, stop them on a time limit."""

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, TextIO, Tuple

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
    seconds: Dict[str, float] = field(default_factory=dict)  # per stage

    @property
    def kernel_ran(self) -> bool:
        return self.stage == STARTING


def test_log_path(build_dir: str) -> str:
    return os.path.join(build_dir, 'test.log')  # the raw kernel log


def _tee(stream: TextIO, out: TextIO) -> None:
    """Copy stream to out; once out fails, drain stream all the same, or
    kunit.py would block on a full pipe (the caller's next write to out
    fails too and says why)."""
    writing = True
    with contextlib.suppress(OSError, ValueError):  # the pipe went away
        for line in stream:
            if writing:
                try:
                    out.write(line)
                    out.flush()
                except Exception:  # noqa: BLE001 -- any broken `out`
                    writing = False


def stop_group(proc: 'subprocess.Popen[str]') -> None:
    """Stop kunit.py and everything it started (make, gcc, UML): SIGINT
    first, so that kunit.py flushes test.log (a lockdep splat before a
    deadlock is in its last lines) and make removes half-written objects;
    SIGKILL for whatever is left after STOP_GRACE_S."""
    deadline = time.monotonic() + STOP_GRACE_S
    for signum in (signal.SIGINT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)
        # Until kunit.py exits; WNOWAIT leaves it a zombie, so that its
        # pid, the group's id, is not reused before we signal the group.
        with contextlib.suppress(ChildProcessError):  # reaped already
            while time.monotonic() < deadline and not os.waitid(
                    os.P_PID, proc.pid,
                    os.WEXITED | os.WNOHANG | os.WNOWAIT):
                time.sleep(0.05)
    # A two-CPU UML that hung was once found spinning long after its
    # group was killed: kill what is left of the group until it is gone.
    for _ in range(int(STOP_GRACE_S / 0.05)):
        left = live_group_members(proc.pid)
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    proc.wait()


def live_group_members(pgid: int) -> List[int]:
    """The processes of a process group that are not zombies (kunit.py,
    kept one until it is reaped, and any child awaiting its reaper)."""
    members = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError):
                with open(f'/proc/{entry}/stat', encoding='ascii',
                          errors='replace') as f:
                    # "pid (comm) state ppid pgrp ...": comm may hold
                    # blanks and parentheses.
                    state, _, group = f.read().rpartition(')')[2].split()[:3]
                if state != 'Z' and int(group) == pgid:
                    members.append(int(entry))
    return members


def _wait(proc: 'subprocess.Popen[str]', deadline: Optional[float],
          cancel: Optional[threading.Event]) -> None:
    """proc.wait() until the deadline (TimeoutExpired after it), and
    KeyboardInterrupt as soon as cancel is set."""
    while True:
        left = None if deadline is None else max(deadline - time.monotonic(),
                                                 0)
        if cancel is not None:
            if cancel.is_set():
                raise KeyboardInterrupt
            if left is None or left > 0.2:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(0.2)
                    return
                continue
        proc.wait(left)
        return


def run_kunit(tree: str, commands: Sequence[Tuple[str, Sequence[str]]],
              out: TextIO = sys.stdout,
              env: Optional[Mapping[str, str]] = None,
              timeout: Optional[float] = None,
              cancel: Optional[threading.Event] = None) -> KunitRun:
    """Run each (stage, argv) in the tree until one fails, streaming the
    output to `out`, for at most `timeout` seconds in all; a set cancel
    stops it like Ctrl-C (for runs in other threads)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    seconds: Dict[str, float] = {}
    # Without PYTHONUNBUFFERED the child's prints reach us in 4 KiB lumps.
    child_env = dict(os.environ if env is None else env, PYTHONUNBUFFERED='1')
    for stage, argv in commands:
        print('sva-kunit:', shlex.join(argv), file=out, flush=True)
        # A session of its own lets us stop make and UML too, and keeps
        # the terminal's Ctrl-C from kunit.py (we stop the group); stdin
        # is not the terminal, which kunit.py then leaves alone (no stty).
        proc = subprocess.Popen(list(argv), cwd=tree, env=child_env,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                errors='backslashreplace', bufsize=1,
                                start_new_session=True)
        # A thread reads the output, so that this one keeps the clock
        # even while kunit.py (or a deadlocked kernel) prints nothing.
        reader = threading.Thread(target=_tee, args=(proc.stdout, out),
                                  daemon=True)
        reader.start()
        timed_out = False
        started = time.monotonic()
        try:
            _wait(proc, deadline, cancel)
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
        seconds[stage] = time.monotonic() - started
        if timed_out:
            print(f'sva-kunit: stopped kunit.py after {timeout:g} s',
                  file=out, flush=True)
        if proc.returncode or timed_out:
            break
    return KunitRun(proc.returncode, stage, timed_out, seconds)
