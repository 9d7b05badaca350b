"""`sva-kunit bisect-step`: one step of `git bisect run`.

    git bisect run /path/to/repo/scripts/sva-kunit bisect-step

At the revision git checked out it installs the suite (nothing is
committed), runs it through suite_run like `run` does, and always takes
it out again.  Exit codes are git bisect's: 0 good, 1 bad, 125 skip (the
revision cannot take the suite or its kernel does not build), and 128
(any code >= 128 stops git bisect) when the tree is not exactly as git
left it afterwards, when no revision could ever be tested here, or on
any other error (a setup problem, a bug): only a verdict about the
revision may exit 0 or 1, or git would blame the wrong commit.
"""

import argparse
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import (ContextManager, Dict, Iterator, Mapping, NoReturn,
                    Optional, TextIO)

from . import locks
from .bisect import git_tree
from .command import (Subcommand, add_build_options, add_cache_dir,
                      sigterm_handled)
from .errors import ERROR_PREFIX, EXIT_OK, SetupError
from .run.suite_run import RunOptions, RunOutcome, default_build_dir, run_suite
from .tree import install_journal, installer
from .tree.fs_journal import read_file
from .tree.hooks import HOOKS
from .tree.kernel_tree import require_host_tools, validate_tree
from .tree.manifest import manifest_path
from .tree.payload import collect_payload

EXIT_GOOD, EXIT_BAD, EXIT_SKIP, EXIT_ABORT = 0, 1, 125, 128
VERDICTS = {EXIT_GOOD: 'good', EXIT_BAD: 'bad', EXIT_SKIP: 'skip'}
PREFIX = 'sva-kunit bisect-step: '


class Abort(Exception):
    """Stop the whole bisection: exit 128 with this one-line message."""


@dataclass
class StepResult:
    exit_code: int
    reason: str


def _one_line(text: str) -> str:
    return ' '.join(text.split())


def result_line(sha: str, result: StepResult, seconds: float) -> str:
    return (f'{PREFIX}{sha} {VERDICTS[result.exit_code]} '
            f'({_one_line(result.reason)}) in {seconds:.0f} s')


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while the tree is half-changed.

    The installer rolls back on errors but not on KeyboardInterrupt; a
    signal that arrives meanwhile is delivered when the block ends.
    """
    blocked = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _child_pids() -> Iterator[int]:
    """Direct children of this process (Linux /proc; best effort)."""
    try:
        tids = os.listdir('/proc/self/task')
    except OSError:
        return
    for tid in tids:
        try:
            with open(f'/proc/self/task/{tid}/children') as f:
                pids = f.read().split()
        except OSError:
            continue
        for pid in pids:
            yield int(pid)


def _on_sigterm(signum: int, frame: object) -> NoReturn:
    # kunit.py does not get our SIGTERM the way it gets a terminal's
    # Ctrl-C; pass it on so the wait for it in run_kunit ends soon.
    for pid in _child_pids():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    raise KeyboardInterrupt


def sigterm_as_interrupt() -> ContextManager[None]:
    return sigterm_handled(_on_sigterm)


def work_tree(kernel: Optional[str]) -> str:
    """The tree to test: --kernel, else the top of the cwd's work tree."""
    path = os.path.abspath(kernel or os.getcwd())
    top = git_tree.toplevel(path)
    if top is None:
        raise Abort(f'{path} is not inside a git work tree; run '
                    'bisect-step through git bisect run in a kernel git '
                    'tree (or pass --kernel=DIR)')
    return path if kernel else top


HookBytes = Dict[str, Optional[bytes]]


def hook_bytes(tree: str) -> HookBytes:
    found: HookBytes = {}
    for hook in HOOKS:
        current = read_file(os.path.join(tree, *hook.path.split('/')))
        found[hook.path] = current[0] if current else None
    return found


def _first_difference(before: bytes, after: bytes) -> str:
    old = before.decode(errors='replace').splitlines()
    new = after.decode(errors='replace').splitlines()
    for line in new:
        if line not in old:
            return f'now "{line}"'
    for line in old:
        if line not in new:
            return f'no longer "{line}"'
    return 'order differs'


def _leftover(tree: str) -> str:
    """The name of what an earlier install left in the tree, or ''."""
    for path in (manifest_path(tree), install_journal.journal_path(tree)):
        if os.path.lexists(path):
            return os.path.basename(path)
    return ''


def restore(tree: str, before: bytes, hooks_before: Mapping[str,
                                                             Optional[bytes]]
            ) -> Optional[str]:
    """Uninstall; None when the tree is as it was, else what is wrong."""
    try:
        if _leftover(tree):
            installer.uninstall(tree)
    except SetupError as e:
        return f'uninstalling the suite from {tree} failed: {e}'
    try:
        after = git_tree.status(tree)
    except git_tree.GitError as e:
        return str(e)
    if after != before:
        return (f'git status in {tree} changed during the step '
                f'({_first_difference(before, after)}); the tree is not as '
                'git bisect left it, fix it by hand')
    now = hook_bytes(tree)
    for rel, data in hooks_before.items():
        if now[rel] != data:
            return (f'{os.path.join(tree, rel)} is not byte-identical to '
                    'how it was before the step; fix it by hand')
    return None


def verdict(outcome: RunOutcome) -> StepResult:
    reason = outcome.summary.split(': ', 1)[-1]
    reason = reason.replace('; see its output above', '')
    if outcome.exit_code == EXIT_OK:
        return StepResult(EXIT_GOOD, reason)
    if not outcome.kunit.kernel_ran:
        return StepResult(EXIT_SKIP, reason)  # configure or build failed
    return StepResult(EXIT_BAD, reason)


def _install(tree: str, repo_root: str, out: TextIO) -> Optional[str]:
    """Install the suite; the reason to skip when the tree cannot take it."""
    payload = collect_payload(repo_root)
    if not payload:
        raise Abort(f'no suite files under {repo_root}/drivers or '
                    f'{repo_root}/tools; run sva-kunit from its repository '
                    'checkout')
    try:
        with deferred_signals():
            plan = installer.sync(tree, payload)
    except SetupError as e:
        return e.problem
    out.write(f'sva-kunit: installed the suite in {tree} '
              f'({len(plan.payload_actions())} changes; nothing committed)\n')
    return None


def step(tree: str, options: RunOptions, out: TextIO,
         env: Optional[Mapping[str, str]] = None) -> StepResult:
    """Install, run, uninstall; raise Abort if the tree is left changed."""
    before = git_tree.status(tree)
    hooks_before = hook_bytes(tree)
    leftover = _leftover(tree)
    if leftover:
        raise Abort(f'{tree} still holds the suite from an earlier run '
                    f'({leftover}); run sva-kunit uninstall '
                    f'--kernel={tree}, then git bisect run again')
    try:
        validate_tree(tree)
    except SetupError as e:
        return StepResult(EXIT_SKIP, e.problem)
    try:
        require_host_tools()
    except SetupError as e:
        raise Abort(str(e)) from None
    try:
        why_not = _install(tree, options.repo_root, out)
        if why_not is not None:
            return StepResult(EXIT_SKIP, why_not)
        outcome = run_suite(options, out, env, tree=tree)
        for line in outcome.details:
            out.write(f'sva-kunit:   {line}\n')
        out.write(f'sva-kunit: {outcome.summary}\n')
        return verdict(outcome)
    finally:
        out.flush()
        with deferred_signals():
            problem = restore(tree, before, hooks_before)
        if problem is not None:
            # Replaces an interrupt on its way out: 128 stops git bisect
            # just the same, and this is what the user must hear about.
            raise Abort(problem)  # noqa: B012


def _abort(message: str, out: TextIO, err: TextIO) -> int:
    out.flush()
    err.write(ERROR_PREFIX + _one_line(message) + '\n')
    err.flush()
    return EXIT_ABORT


def bisect_step(options: RunOptions, kernel: Optional[str], out: TextIO,
                err: TextIO, env: Optional[Mapping[str, str]] = None) -> int:
    started = time.monotonic()
    child_env = dict(os.environ if env is None else env)
    # kunit.py must not leave __pycache__ behind in the user's tree.
    child_env['PYTHONDONTWRITEBYTECODE'] = '1'
    sha = 'HEAD'
    try:
        tree = work_tree(kernel)
        sha = git_tree.short_head(tree)
        options.kernel = tree
        locks.hold_tree(tree, options.cache_dir, out)
        options.build_dir = locks.hold_build_dir(
            options.build_dir or default_build_dir(options, tree), out)
        with sigterm_as_interrupt():
            result = step(tree, options, out, child_env)
    except (Abort, git_tree.GitError, SetupError) as e:
        return _abort(str(e), out, err)
    except Exception as e:  # noqa: BLE001 -- exit 1 would blame the revision
        return _abort(f'bisect-step failed ({type(e).__name__}: {e}); '
                      'stopping the bisection, since this says nothing '
                      'about the revision', out, err)
    if result.exit_code == EXIT_SKIP:
        err.write(f'{PREFIX}skipping {sha}: {_one_line(result.reason)}\n')
        err.flush()
    out.write(result_line(sha, result, time.monotonic() - started) + '\n')
    out.flush()
    return result.exit_code


def _stop_bisect_on_usage_errors(parser: argparse.ArgumentParser) -> None:
    """Make usage errors exit 128 instead of sva-kunit's usual 2.

    git bisect run reads 2 as "bad", so a mistyped option would mark
    every revision bad and "find" a wrong first bad commit; 128 stops
    the bisection.  Unknown options are caught here too: argparse would
    otherwise report them through the top-level parser.
    """
    def error(message: str) -> NoReturn:
        sys.stderr.write(f'{ERROR_PREFIX}{parser.prog}: {message}; see '
                         f'{parser.prog} --help\n')
        raise SystemExit(EXIT_ABORT)

    parse_known_args = parser.parse_known_args

    def parse_all_args(args=None, namespace=None):  # type: ignore
        namespace, extras = parse_known_args(args, namespace)
        if extras:
            error('unrecognized arguments: ' + ' '.join(extras))
        return namespace, extras

    parser.error = error  # type: ignore[method-assign]
    parser.parse_known_args = parse_all_args  # type: ignore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--kernel', metavar='DIR',
                        help='kernel git work tree (default: the one the '
                        'current directory is in, as git bisect run '
                        'starts it)')
    add_cache_dir(parser)
    parser.add_argument('--filter', default='', metavar='GLOB',
                        help="run only matching tests (kunit.py's "
                        'filter_glob)')
    parser.add_argument('--build-dir', metavar='DIR',
                        help='kunit.py build directory kept across steps '
                        '(default: the per-tree one under the cache dir)')
    add_build_options(parser)
    _stop_bisect_on_usage_errors(parser)


def handle(args: argparse.Namespace, out: TextIO) -> int:
    options = RunOptions(cache_dir=args.cache_dir, build_dir=args.build_dir,
                         filter_glob=args.filter, jobs=args.jobs,
                         use_ccache=args.use_ccache,
                         repo_root=args.repo_root)
    return bisect_step(options, args.kernel, out, sys.stderr)


BISECT_STEP = Subcommand(
    'bisect-step', 'one step of `git bisect run`: install the suite into the '
    'checked-out revision, run it, take it out again; exit 0 good, 1 bad, '
    '125 skip, 128 stop', add_arguments, handle)
