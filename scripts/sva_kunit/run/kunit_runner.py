"""Build kunit.py's command line and run it once: the layer under suite_run.

It tees kunit.py's output, stops it on a timeout, and reports its exit
status and the last stage it reached (KunitRun); it knows nothing of
trees, the suite's files or verdicts.  suite_run.py prepares the tree
before calling run_kunit() and judges what the run left behind.

kunit.py does the configuring, building and booting; we only watch its
progress lines to tell a configuration or build failure from a test
failure, which its exit status (always 1) does not.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, TextIO

from ..tree.kernel_tree import KUNIT_PY

KUNITCONFIG_DIR = 'drivers/iommu'
TEST_LOG = 'test.log'  # kunit.py writes the raw kernel log here

# kunit.py's subcommands we use: configure, build and boot; boot only.
RUN, EXEC = 'run', 'exec'

STOP_GRACE_S = 10.0    # from SIGINT to SIGKILL when stopping kunit.py
READER_JOIN_S = 5.0    # for the last output once kunit.py has gone

CONFIGURING, BUILDING, STARTING = 'configure', 'build', 'run'
STAGE_MARKERS = (('Configuring KUnit Kernel', CONFIGURING),
                 ('Building KUnit Kernel', BUILDING),
                 ('Starting KUnit Kernel', STARTING))


def kunit_command(build_dir: str, arch: str = 'um', jobs: int = 1,
                  filter_glob: str = '', json_path: Optional[str] = None,
                  kconfig_add: Sequence[str] = (),
                  make_options: Sequence[str] = (),
                  cross_compile: str = '',
                  qemu_args: Sequence[str] = (),
                  python: str = 'python3',
                  subcommand: str = RUN,
                  kernel_args: Sequence[str] = (),
                  run_timeout: Optional[int] = None) -> List[str]:
    """argv for `kunit.py run` on the suite, to run from the tree's top.

    With subcommand=EXEC, `kunit.py exec`: boot the kernel already built
    in build_dir, with the same options (but --jobs, which only the
    build takes)."""
    # KASAN reports only the first bad access of a boot unless told
    # otherwise; then one report would hide every later one.
    argv = [python, KUNIT_PY, subcommand, f'--kunitconfig={KUNITCONFIG_DIR}',
            f'--build_dir={build_dir}', f'--arch={arch}']
    if subcommand != EXEC:
        argv.append(f'--jobs={jobs}')
    argv.append('--kernel_args=kasan_multi_shot')
    argv.extend(f'--kernel_args={arg}' for arg in kernel_args)
    if run_timeout:
        argv.append(f'--timeout={run_timeout}')
    if json_path:
        # "=" form: --json takes an optional value and must not swallow
        # the filter glob.
        argv.append(f'--json={json_path}')
    argv.extend(f'--kconfig_add={option}' for option in kconfig_add)
    argv.extend(f'--make_options={option}' for option in make_options)
    if cross_compile:
        argv.append(f'--cross_compile={cross_compile}')
    # kunit.py splits each value like a shell would.
    argv.extend(f'--qemu_args={args}' for args in qemu_args)
    if filter_glob:
        argv.append(filter_glob)
    return argv


@dataclass
class KunitRun:
    returncode: int
    stage: str  # the last stage kunit.py announced ('' if none)
    timed_out: bool = False  # stopped by run_kunit's timeout

    @property
    def kernel_ran(self) -> bool:
        return self.stage == STARTING


def run_kunit(tree: str, argv: Sequence[str], out: TextIO = sys.stdout,
              env: Optional[Mapping[str, str]] = None,
              timeout: Optional[float] = None) -> KunitRun:
    """Run kunit.py in the tree, streaming its output to `out`.

    With a timeout (seconds, build included) kunit.py runs in its own
    process group, which is stopped as a whole when time runs out or we
    are interrupted; see _run_limited().
    """
    child_env = dict(os.environ if env is None else env)
    # Without this the child's prints reach us in 4 KiB lumps.
    child_env['PYTHONUNBUFFERED'] = '1'
    if timeout is not None:
        return _run_limited(tree, argv, out, child_env, timeout)
    stage = ''
    with subprocess.Popen(list(argv), cwd=tree, env=child_env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors='backslashreplace',
                          bufsize=1) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                out.write(line)
                out.flush()
                for marker, name in STAGE_MARKERS:
                    if marker in line:
                        stage = name
        except KeyboardInterrupt:
            # kunit.py got the same SIGINT and restores the terminal itself.
            proc.wait()
            raise
    return KunitRun(proc.returncode, stage)


def _tee(stream: TextIO, out: TextIO, stages: List[str]) -> None:
    try:
        for line in stream:
            out.write(line)
            out.flush()
            stages.extend(name for marker, name in STAGE_MARKERS
                          if marker in line)
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


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop_group(proc: 'subprocess.Popen[str]',
               grace: Optional[float] = None) -> None:
    """Stop kunit.py and everything it started (make, gcc, UML).

    SIGINT first: kunit.py's handler then terminates UML and flushes
    test.log (a lockdep splat before a deadlock is in its last,
    unflushed lines), and make removes half-written objects.  Whatever
    is left after `grace` seconds gets SIGKILL.
    """
    _signal_group(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + (STOP_GRACE_S if grace is None else grace)
    while not _exited(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(proc.pid, signal.SIGKILL)  # stragglers, e.g. UML helpers
    proc.wait()


def _run_limited(tree: str, argv: Sequence[str], out: TextIO,
                 child_env: Mapping[str, str], timeout: float) -> KunitRun:
    # A session (and so a process group) of its own lets us kill make's
    # and UML's processes too, not just kunit.py.  It also keeps the
    # terminal's Ctrl-C from reaching kunit.py directly, so on an
    # interrupt we stop the group ourselves; stdin is not the terminal,
    # which kunit.py then leaves alone (no stty).
    proc = subprocess.Popen(list(argv), cwd=tree, env=child_env,
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors='backslashreplace', bufsize=1,
                            start_new_session=True)
    assert proc.stdout is not None
    stages: List[str] = []
    # The output is read by a thread so that this one can keep the clock,
    # even while kunit.py (or a deadlocked kernel) prints nothing.
    reader = threading.Thread(target=_tee, args=(proc.stdout, out, stages),
                              daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        stop_group(proc)
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
    return KunitRun(proc.returncode, stages[-1] if stages else '',
                    timed_out)


def test_log_path(build_dir: str) -> str:
    return os.path.join(build_dir, TEST_LOG)
