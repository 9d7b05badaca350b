"""`sva-kunit bisect-step`: one step of `git bisect run`: install the suite
(nothing committed), run it like `run`, always take it out again.  Only a
verdict exits 0 good, 1 bad or 125 skip; anything else exits 128."""

import argparse
import os
import signal
import sys
import time
from typing import List, Mapping, Sequence, TextIO, Tuple

from . import locks
from .command import (Parser, Subcommand, add_build_options, add_cache_dir,
                      directory, glob_filter, kernel_dir)
from .errors import EXIT_OK, SetupError
from .git_tools import GitError, git, git_text, toplevel
from .locks import inside, sigterm_as_interrupt
from .run.suite_run import (GROUP_TIMEOUT_S, RunOptions, check_options,
                            default_build_dir, hold_build_dir, run_suite)
from .tree import installer
from .tree.fs_journal import Mutation, journal_path
from .tree.kernel_tree import (require_host_tools, require_kernel_tree,
                               validate_tree)
from .tree.manifest import manifest_path
from .tree.payload import collect_payload

EXIT_GOOD, EXIT_BAD, EXIT_SKIP, EXIT_ABORT = 0, 1, 125, 128
VERDICTS = {EXIT_GOOD: 'good', EXIT_BAD: 'bad', EXIT_SKIP: 'skip'}
PREFIX = 'sva-kunit bisect-step: '
BY_HAND = 'fix it by hand'


def _state(tree: str) -> Tuple[List[str], bytes]:
    """git status, --ignored too (the kernel's .gitignore ignores ".*"),
    and the diff: an uncommitted edit is " M" before and after."""
    status = git(tree, ('status', '--porcelain=v1', '--ignored',
                        '--untracked-files=all')).stdout
    return (status.decode(errors='replace').splitlines(),
            git(tree, ('diff', '--binary', '--no-ext-diff')).stdout)


def restore(tree: str, before: Tuple[List[str], bytes]) -> None:
    """Uninstall; SetupError unless the tree is as it was before.
    SIGINT/SIGTERM wait meanwhile: the installer would roll an
    interrupted uninstall back, leaving the suite in."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK,
                                  {signal.SIGINT, signal.SIGTERM})
    try:
        installer.uninstall(tree)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    old, (new, diff) = before[0], _state(tree)
    if new != old:
        change = ([f'now "{line}"' for line in new if line not in old]
                  + [f'no longer "{line}"' for line in old
                     if line not in new] + ['order differs'])[0]
        raise SetupError(f'git status in {tree} changed during the step '
                         f'({change}); the tree is not as git bisect left '
                         'it', BY_HAND)
    if diff != before[1]:
        raise SetupError(f'git diff in {tree} changed during the step; an '
                         'uncommitted change is not as it was', BY_HAND)


def step(tree: str, options: RunOptions, out: TextIO,
         env: Mapping[str, str]) -> Tuple[int, str]:
    """Install, run, uninstall: (exit code, reason)."""
    before = _state(tree)
    try:
        validate_tree(tree)
    except SetupError as e:
        return EXIT_SKIP, e.problem
    require_host_tools()
    payload = collect_payload(options.repo_root)
    try:
        try:  # rolled back, also on an interrupt
            plan = installer.sync(tree, payload)
        except installer.NotInstallable as e:
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
        # A SetupError here replaces an interrupt on its way out: 128
        # stops git bisect just the same, and the user must hear of it.
        restore(tree, before)


class StopBisectParser(Parser):
    """Unknown options are this parser's error, which argparse would
    otherwise leave to the top parser."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error('unrecognized arguments: ' + ' '.join(extras))
        return namespace, extras


def bisecting(argv: Sequence[str]) -> bool:
    """Could a git bisection be running bisect-step with argv: is one
    going on in the repository of the current directory, or of any
    directory argv names (--kernel DIR, --kern=DIR, ...)?  True when
    that cannot be told."""
    try:
        places = [os.getcwd()]
    except OSError:
        return True  # no current directory: no telling
    places += [word.split('=', 1)[-1] for word in argv]
    for path in filter(os.path.isdir, places):
        try:
            found = git_text(path, ('rev-parse', '--git-path',
                                    'BISECT_START'))
        except GitError:
            continue
        if os.path.isfile(os.path.join(path, found)):
            return True
    return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.__class__ = StopBisectParser
    parser.add_argument('--kernel', metavar='DIR', type=kernel_dir,
                        help='kernel git work tree (default: the one the '
                        'current directory is in, as git bisect run '
                        'starts it)')
    add_cache_dir(parser)
    parser.add_argument('--filter', default='', metavar='GLOB',
                        type=glob_filter, help="run only matching tests "
                        "(kunit.py's filter_glob)")
    parser.add_argument('--build-dir', metavar='DIR', type=directory,
                        help='kunit.py build directory kept across steps '
                        '(default: the per-tree one under the cache dir)')
    add_build_options(parser)


def handle(args: argparse.Namespace, out: TextIO) -> int:
    """A verdict, or an exception that the command line turns into one
    line and 128 (exit 1 would blame the revision)."""
    started = time.monotonic()
    # The time limit is only there so that kunit.py runs in a process
    # group of its own, which an interrupt or SIGTERM stops as a whole.
    options = RunOptions(cache_dir=args.cache_dir, build_dir=args.build_dir,
                         filter_glob=args.filter, jobs=args.jobs,
                         use_ccache=args.use_ccache, repo_root=args.repo_root,
                         timeout=GROUP_TIMEOUT_S)
    # kunit.py must not leave __pycache__ behind in the user's tree.
    env = {**os.environ, 'PYTHONDONTWRITEBYTECODE': '1'}
    path = os.path.abspath(args.kernel or os.getcwd())
    top = toplevel(path)
    if top is None:
        raise SetupError(f'{path} is not inside a git work tree', 'run '
                         'bisect-step through git bisect run in a kernel git '
                         'tree (or pass --kernel=DIR)')
    # Not a kernel tree at all is no reason to skip a revision: git would
    # skip every one.  A tree too old for the suite is (step()).
    tree = options.kernel = require_kernel_tree(path if args.kernel else top)
    for path in (manifest_path(tree), journal_path(tree),
                 Mutation.path(tree)):
        if os.path.lexists(path):
            raise SetupError(f'{tree} still holds the suite from an earlier '
                             f'run ({os.path.basename(path)})', 'run '
                             f'sva-kunit uninstall --kernel={tree}, then '
                             'git bisect run again')
    check_options(options)
    build_dir = options.build_dir or default_build_dir(options, tree)
    if inside(build_dir, tree):
        raise SetupError(f'the build directory {build_dir} is inside the '
                         f'tree {tree}', 'bisect-step leaves the tree as git '
                         'bisect left it: pass --build-dir (or --cache-dir) '
                         'outside it')
    sha = git_text(tree, ('rev-parse', '--short', 'HEAD'))
    locks.hold_tree(tree, options.cache_dir, out)
    options.build_dir = hold_build_dir(
        options.build_dir or default_build_dir(options, tree), out)
    with sigterm_as_interrupt():
        code, reason = step(tree, options, out, env)
    reason = ' '.join(reason.split())
    if code == EXIT_SKIP:
        sys.stderr.write(f'{PREFIX}skipping {sha}: {reason}\n')
        sys.stderr.flush()
    out.write(f'{PREFIX}{sha} {VERDICTS[code]} ({reason}) in '
              f'{time.monotonic() - started:.0f} s\n')
    out.flush()
    return code


BISECT_STEP = Subcommand(
    'bisect-step', 'one step of `git bisect run`: install the suite into the '
    'checked-out revision, run it, take it out again; exit 0 good, 1 bad, '
    '125 skip, 128 stop', add_arguments, handle, error_exit=EXIT_ABORT)
