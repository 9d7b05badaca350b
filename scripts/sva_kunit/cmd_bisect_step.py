"""`sva-kunit bisect-step`: one step of `git bisect run`: install the suite
(nothing committed), run it like `run`, always take it out again.  Only a
verdict exits 0 good, 1 bad or 125 skip; anything else exits 128."""

import argparse
import contextlib
import os
import signal
import sys
import time
from typing import Dict, Iterator, Mapping, NoReturn, Optional, TextIO, Tuple

from . import locks
from .bisect.git_tree import GitError, git, toplevel
from .cmd_mutate import BASELINE_TIMEOUT_S, sigterm_as_interrupt
from .command import Parser, Subcommand, add_build_options, add_cache_dir
from .errors import ERROR_PREFIX, EXIT_OK, SetupError
from .run.suite_run import RunOptions, default_build_dir, run_suite
from .tree import install_journal, installer
from .tree.fs_journal import read_file
from .tree.hooks import HOOKS
from .tree.kernel_tree import require_host_tools, validate_tree
from .tree.manifest import manifest_path
from .tree.payload import collect_payload

EXIT_GOOD, EXIT_BAD, EXIT_SKIP, EXIT_ABORT = 0, 1, 125, 128
VERDICTS = {EXIT_GOOD: 'good', EXIT_BAD: 'bad', EXIT_SKIP: 'skip'}
PREFIX = 'sva-kunit bisect-step: '
# --ignored too: the kernel's .gitignore ignores ".*", so without it a
# left-behind .sva-kunit-manifest or .kunitconfig would not show.
STATUS_ARGS = ('status', '--porcelain=v1', '--untracked-files=all',
               '--ignored')

State = Tuple[bytes, Dict[str, Optional[bytes]]]


class Abort(Exception):
    """Stop the whole bisection: exit 128 with this one-line message."""


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while the tree is half-changed: the
    installer rolls back on errors but not on KeyboardInterrupt."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK,
                                 {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _state(tree: str) -> State:
    """git status, and the bytes of the files the installer hooks into
    (a user's uncommitted edit there shows as " M" before and after)."""
    hooks = {}
    for hook in HOOKS:
        found = read_file(os.path.join(tree, *hook.path.split('/')))
        hooks[hook.path] = found[0] if found else None
    return git(tree, STATUS_ARGS).stdout, hooks


def _leftover(tree: str) -> str:
    """The name of what an earlier install left in the tree, or ''."""
    for path in (manifest_path(tree), install_journal.journal_path(tree)):
        if os.path.lexists(path):
            return os.path.basename(path)
    return ''


def restore(tree: str, before: State) -> Optional[str]:
    """Uninstall; None when the tree is as it was, else what is wrong."""
    try:
        if _leftover(tree):
            installer.uninstall(tree)
    except SetupError as e:
        return f'uninstalling the suite from {tree} failed: {e}'
    try:
        status, hooks = _state(tree)
    except (GitError, SetupError) as e:
        return str(e)
    if status != before[0]:
        old, new = (s.decode(errors='replace').splitlines()
                    for s in (before[0], status))
        change = ([f'now "{line}"' for line in new if line not in old]
                  + [f'no longer "{line}"' for line in old
                     if line not in new] + ['order differs'])[0]
        return (f'git status in {tree} changed during the step ({change}); '
                'the tree is not as git bisect left it, fix it by hand')
    for rel, data in before[1].items():
        if hooks[rel] != data:
            return (f'{os.path.join(tree, rel)} is not byte-identical to '
                    'how it was before the step; fix it by hand')
    return None


def step(tree: str, options: RunOptions, out: TextIO,
         env: Optional[Mapping[str, str]] = None) -> Tuple[int, str]:
    """Install, run, uninstall: (exit code, reason); Abort if the tree
    is left changed."""
    before = _state(tree)
    leftover = _leftover(tree)
    if leftover:
        raise Abort(f'{tree} still holds the suite from an earlier run '
                    f'({leftover}); run sva-kunit uninstall '
                    f'--kernel={tree}, then git bisect run again')
    try:
        validate_tree(tree)
    except SetupError as e:
        return EXIT_SKIP, e.problem
    require_host_tools()
    payload = collect_payload(options.repo_root)
    if not payload:
        raise Abort(f'no suite files under {options.repo_root}/drivers or '
                    f'{options.repo_root}/tools; run sva-kunit from its '
                    'repository checkout')
    try:
        try:
            with deferred_signals():
                plan = installer.sync(tree, payload)
        except SetupError as e:
            return EXIT_SKIP, e.problem  # e.g. a suite file in the way
        out.write(f'sva-kunit: installed the suite in {tree} ('
                  f'{len(plan.payload_actions())} changes; nothing '
                  'committed)\n')
        outcome = run_suite(options, out, env, tree=tree)
        for line in outcome.details:
            out.write(f'sva-kunit:   {line}\n')
        out.write(f'sva-kunit: {outcome.summary}\n')
        reason = outcome.summary.split(': ', 1)[-1].replace(
            '; see its output above', '')
        if outcome.exit_code == EXIT_OK:
            return EXIT_GOOD, reason
        # A kernel that did not configure or build is no verdict.
        return (EXIT_BAD if outcome.kunit.kernel_ran else EXIT_SKIP), reason
    finally:
        out.flush()
        with deferred_signals():
            problem = restore(tree, before)
        if problem is not None:
            # Replaces an interrupt on its way out: 128 stops git bisect
            # just the same, and this is what the user must hear about.
            raise Abort(problem)  # noqa: B012


def bisect_step(options: RunOptions, kernel: Optional[str], out: TextIO,
                err: TextIO, env: Optional[Mapping[str, str]] = None) -> int:
    started = time.monotonic()
    # kunit.py must not leave __pycache__ behind in the user's tree.
    child_env = {**(os.environ if env is None else env),
                 'PYTHONDONTWRITEBYTECODE': '1'}
    # A limit only so that kunit.py runs in a process group of its own,
    # which an interrupt or SIGTERM then stops as a whole.
    options.timeout = BASELINE_TIMEOUT_S
    sha = 'HEAD'
    try:
        path = os.path.abspath(kernel or os.getcwd())
        top = toplevel(path)
        if top is None:
            raise Abort(f'{path} is not inside a git work tree; run '
                        'bisect-step through git bisect run in a kernel git '
                        'tree (or pass --kernel=DIR)')
        tree = options.kernel = path if kernel else top
        sha = git(tree, ('rev-parse', '--short', 'HEAD'), check=False
                  ).stdout.decode(errors='replace').strip() or sha
        locks.hold_tree(tree, options.cache_dir, out)
        options.build_dir = locks.hold_build_dir(
            options.build_dir or default_build_dir(options, tree), out)
        with sigterm_as_interrupt():
            code, reason = step(tree, options, out, child_env)
    except Exception as e:  # noqa: BLE001 -- exit 1 would blame the revision
        if not isinstance(e, (Abort, GitError, SetupError)):
            e = Abort(f'bisect-step failed ({type(e).__name__}: {e}); '
                      'stopping the bisection, since this says nothing '
                      'about the revision')
        out.flush()
        err.write(ERROR_PREFIX + ' '.join(str(e).split()) + '\n')
        return EXIT_ABORT
    reason = ' '.join(reason.split())
    if code == EXIT_SKIP:
        err.write(f'{PREFIX}skipping {sha}: {reason}\n')
        err.flush()
    out.write(f'{PREFIX}{sha} {VERDICTS[code]} ({reason}) in '
              f'{time.monotonic() - started:.0f} s\n')
    out.flush()
    return code


class StopBisectParser(Parser):
    """Usage errors exit 128, not 2: git bisect run reads 2 as "bad", so a
    mistyped option would "find" a wrong first bad commit.  Unknown
    options too, which argparse would report through the top parser."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f'{ERROR_PREFIX}{self.prog}: {message}; see '
                         f'{self.prog} --help\n')
        raise SystemExit(EXIT_ABORT)

    def parse_known_args(self, args=None, namespace=None):  # type: ignore
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error('unrecognized arguments: ' + ' '.join(extras))
        return namespace, extras


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.__class__ = StopBisectParser
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
