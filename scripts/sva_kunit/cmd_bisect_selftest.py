"""`sva-kunit bisect-selftest`: prove bisect-step finds a planted bug.

It extracts the Debian linux-source tarball (--source) into a scratch
directory, makes it a git repository (one commit), adds a short history with
harmless changes, a build break and its fix, and one commit that plants
a lifecycle bug from the mutant catalogue, then lets
`git bisect run scripts/sva-kunit bisect-step` find it.  PASS needs git
to name exactly the bug commit with the tree clean after every step.

A fresh extraction rather than a copy of the cached tree: `run` leaves
the suite installed there and `mutate` changes its files, while the
tarball is always pristine (and extracting it took 17 s against 10 s for
`cp -a` of a page-cached tree on ext4, which has no reflinks).
"""

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import (Callable, List, Mapping, Optional, Sequence, TextIO,
                    Tuple)

from .bisect.git_tree import GitError, git_text
from .command import Subcommand, add_cache_dir, add_source
from .errors import EXIT_FAILED, EXIT_OK, SetupError
from .mutation import mutants
from .tree import debian_fetch, kernel_sources
from .tree.packages import REQUIRED_PACKAGES, ensure_packages
from .tree.source_cache import find_tarball

BUG_MUTANT = os.path.join('mutants', '08-no-handle-refcount-inc.mutant')
BRANCH = 'bisect-selftest'
# Every git call of the self-test (and, through GIT_CONFIG_PARAMETERS, of
# the bisect-step it runs) uses these; the scratch repo has no user.
GIT_CONFIG = ('-c', 'core.fsmonitor=false', '-c', 'gc.auto=0',
              '-c', 'user.name=sva-kunit bisect-selftest',
              '-c', 'user.email=bisect-selftest@sva-kunit.invalid',
              '-c', 'commit.gpgsign=false', '-c', 'advice.detachedHead=false')
PREFIX = 'bisect-selftest: '

HARMLESS, BREAK, FIX, BUG = 'harmless', 'build break', 'build fix', 'bug'
SVA_C = 'drivers/iommu/iommu-sva.c'
BREAK_TEXT = b'\nbisect_selftest_breaks_the_build(\n'


def _c_comment(n: int) -> Callable[[bytes], bytes]:
    return lambda data: data + (f'\n/* bisect-selftest: harmless change '
                                 f'{n} */\n').encode()


def _rst_comment(n: int) -> Callable[[bytes], bytes]:
    return lambda data: data + (f'\n.. bisect-selftest: harmless change '
                                f'{n}\n').encode()


def _unbreak(data: bytes) -> bytes:
    if not data.endswith(BREAK_TEXT):
        raise ValueError(f'{SVA_C} does not end with the build break')
    return data[:-len(BREAK_TEXT)]


@dataclass(frozen=True)
class Change:
    kind: str
    path: str
    edit: Optional[Callable[[bytes], bytes]]  # None: apply the bug mutant
    subject: str


# The bug comes after the fix, so every commit before it builds or is
# skippable and the first bad commit is decidable. The break spans two
# commits in the middle of the range, so git's first pick lands on a
# revision that cannot take the suite and the skip (125) path runs for real.
HISTORY = (
    Change(HARMLESS, 'Documentation/arch/x86/sva.rst', _rst_comment(1),
           'Documentation: x86/sva: harmless comment'),
    Change(HARMLESS, 'drivers/iommu/iommu.c', _c_comment(2),
           'iommu: harmless comment'),
    Change(HARMLESS, 'Documentation/userspace-api/iommufd.rst',
           _rst_comment(3), 'Documentation: iommufd: harmless comment'),
    Change(BREAK, SVA_C, lambda data: data + BREAK_TEXT,
           'iommu/sva: break the build'),
    Change(HARMLESS, 'Documentation/arch/x86/sva.rst', _rst_comment(4),
           'Documentation: x86/sva: comment while the build is broken'),
    Change(FIX, SVA_C, _unbreak, 'iommu/sva: fix the build'),
    Change(BUG, SVA_C, None, 'iommu/sva: plant the bug'),
    Change(HARMLESS, 'drivers/iommu/iommu.c', _c_comment(5),
           'iommu: another harmless comment'),
)


@dataclass
class History:
    base: str
    commits: List[str] = field(default_factory=list)  # oldest first
    kinds: List[str] = field(default_factory=list)
    bug: str = ''


def run_git(tree: str, *args: str) -> str:
    return git_text(tree, (*GIT_CONFIG, *args))


def upstream_gitignore(text: str) -> str:
    """Drop Debian's "ignore everything at the top level" stanza.

    With it, git status would not show a single file the installer
    leaves behind, so the self-test could not see a dirty tree.
    """
    lines = text.split('\n')
    try:
        at = lines.index('/*')
    except ValueError:
        return text
    start = at
    while start > 0 and lines[start - 1].startswith('#'):
        start -= 1
    end = at + 1
    if end < len(lines) and lines[end] == '!/debian/':
        end += 1
    return '\n'.join(lines[:start] + lines[end:])


def init_repo(tree: str) -> str:
    """Make the tree one commit of a fresh git repository; its sha."""
    gitignore = os.path.join(tree, '.gitignore')
    if os.path.isfile(gitignore):
        with open(gitignore, encoding='utf-8', newline='') as f:
            text = f.read()
        with open(gitignore, 'w', encoding='utf-8', newline='') as f:
            f.write(upstream_gitignore(text))
    run_git(tree, 'init', '-q', '-b', BRANCH)
    # -f: like upstream git, track every file the tarball ships, even
    # those .gitignore matches (.gitignore itself, .clang-format, ...).
    run_git(tree, 'add', '-A', '-f')
    run_git(tree, 'commit', '-q', '-m', 'base: linux-source as shipped')
    return run_git(tree, 'rev-parse', 'HEAD')


def load_bug(repo_root: str, relpath: str = BUG_MUTANT) -> mutants.Mutant:
    with open(os.path.join(repo_root, relpath), encoding='utf-8',
              newline='') as f:
        return mutants.parse_mutant(f.read(), relpath)


def build_history(tree: str, bug: mutants.Mutant,
                  changes: Sequence[Change] = HISTORY) -> History:
    """Commit each change on top of HEAD; the bug commit is remembered."""
    history = History(base=run_git(tree, 'rev-parse', 'HEAD'))
    for change in changes:
        path = bug.file if change.edit is None else change.path
        full = os.path.join(tree, *path.split('/'))
        with open(full, 'rb') as f:
            data = f.read()
        try:
            new = (mutants.mutate(data, bug) if change.edit is None
                   else change.edit(data))
        except (mutants.NoApply, ValueError) as e:
            raise SetupError(f'cannot make the "{change.subject}" commit '
                             f'({e})', 'the self-test needs an unmodified '
                             'Debian linux-source tree') from None
        with open(full, 'wb') as f:
            f.write(new)
        subject = change.subject
        if change.edit is None:
            subject += f' (mutant {bug.name})'
        run_git(tree, 'commit', '-q', '-a', '-m', subject)
        sha = run_git(tree, 'rev-parse', 'HEAD')
        history.commits.append(sha)
        history.kinds.append(change.kind)
        if change.kind == BUG:
            history.bug = sha
    return history


STEP_LINE = re.compile(r'^sva-kunit bisect-step: (\S+) (good|bad|skip) '
                       r'\((.*)\) in (\d+) s$')
FIRST_BAD = re.compile(r'^([0-9a-f]{40}) is the first bad commit$')


@dataclass
class BisectLog:
    first_bad: Optional[str]
    verdicts: List[str]        # good/bad/skip, in step order
    seconds: List[int]         # per step, as bisect-step printed them

    @property
    def steps(self) -> int:
        return len(self.verdicts)


def parse_bisect_output(text: str) -> BisectLog:
    log = BisectLog(None, [], [])
    for line in text.splitlines():
        line = line.rstrip('\r')
        step = STEP_LINE.match(line)
        if step:
            log.verdicts.append(step.group(2))
            log.seconds.append(int(step.group(4)))
            continue
        bad = FIRST_BAD.match(line)
        if bad and log.first_bad is None:
            log.first_bad = bad.group(1)
    return log


def tee(argv: Sequence[str], cwd: str, out: TextIO,
        env: Optional[Mapping[str, str]] = None) -> tuple:
    """Run argv, streaming its output to out; (exit code, output)."""
    env = dict(os.environ if env is None else env, PYTHONUNBUFFERED='1')
    lines: List[str] = []
    with subprocess.Popen(list(argv), cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          errors='backslashreplace', bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            out.flush()
            lines.append(line)
    if lines and not lines[-1].endswith('\n'):
        out.write('\n')  # git bisect's last line has none
    return proc.returncode, ''.join(lines)


def extract(tarball: str, into: str) -> str:
    """Unpack a one-top-directory tarball under into; the tree's path."""
    os.makedirs(into, exist_ok=True)
    proc = subprocess.run(['tar', '-xf', tarball, '-C', into,
                           '--no-same-owner'], check=False)
    entries = os.listdir(into)
    if proc.returncode != 0 or len(entries) != 1:
        raise SetupError(f'extracting {tarball} into {into} failed',
                         'check free space in the cache dir and rerun')
    return os.path.join(into, entries[0])


@dataclass
class SelftestOptions:
    cache_dir: str
    repo_root: str
    keep: bool = False
    tarball: Optional[str] = None    # None: the --source package's
    source: str = kernel_sources.DEFAULT_SOURCE
    # None: this checkout's scripts/sva-kunit bisect-step
    step_command: Optional[Sequence[str]] = None
    mutant: str = BUG_MUTANT


def _dirty(tree: str) -> str:
    status = run_git(tree, 'status', '--porcelain=v1',
                     '--untracked-files=all', '--ignored')
    return status.splitlines()[0] if status else ''


def _bisect(tree: str, history: History, step: List[str], out: TextIO
            ) -> tuple:
    run_git(tree, 'bisect', 'start', history.commits[-1], history.base)
    try:
        code, text = tee(['git', *GIT_CONFIG, 'bisect', 'run', *step],
                         tree, out)
    finally:
        run_git(tree, 'bisect', 'reset')
    return code, parse_bisect_output(text)


def run_selftest(options: SelftestOptions, out: TextIO) -> int:
    """The whole self-test; the last line written is PASS or FAIL."""
    started = time.monotonic()
    os.makedirs(options.cache_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix='bisect-selftest-', dir=options.cache_dir)
    try:
        passed, why = _selftest_in(work, options, started, out)
    except (GitError, SetupError) as e:
        passed, why = False, str(e)
    finally:
        if options.keep:
            _note(out, f'kept {work}')
        else:
            shutil.rmtree(work, ignore_errors=True)
    out.write(f'{PREFIX}{"PASS" if passed else "FAIL"}: '
              f'{" ".join(why.split())}\n')
    out.flush()
    return EXIT_OK if passed else EXIT_FAILED


def _note(out: TextIO, text: str) -> None:
    out.write(PREFIX + text + '\n')
    out.flush()


def source_tarball(options: SelftestOptions, into: str, out: TextIO) -> str:
    """The pristine tarball of the --source package: the installed
    package's, or one fetched from its Debian suite into `into`."""
    source = kernel_sources.get_source(options.source)
    if debian_fetch.needed(source, options.cache_dir):
        ensure_packages(out)
        return debian_fetch.fetched_tarball(options.cache_dir, source, into,
                                            out)
    ensure_packages(out, REQUIRED_PACKAGES + (source.package,))
    return find_tarball(source.package)


def _selftest_in(work: str, options: SelftestOptions, started: float,
                 out: TextIO) -> Tuple[bool, str]:
    bug = load_bug(options.repo_root, options.mutant)
    fetched = os.path.join(work, 'deb')
    tarball = options.tarball or source_tarball(options, fetched, out)
    t = time.monotonic()
    tree = extract(tarball, os.path.join(work, 'src'))
    extract_s = time.monotonic() - t
    shutil.rmtree(fetched, ignore_errors=True)
    t = time.monotonic()
    init_repo(tree)
    history = build_history(tree, bug)
    repo_s = time.monotonic() - t
    _note(out, f'{tree}: extracted {tarball} in {extract_s:.0f} s; git '
          f'repository with {len(history.commits)} commits on the base in '
          f'{repo_s:.0f} s; bug commit {history.bug[:12]} '
          f'({history.kinds.index(BUG) + 1} of {len(history.commits)})')

    step = list(options.step_command or
                [os.path.join(options.repo_root, 'scripts', 'sva-kunit'),
                 'bisect-step'])
    step += [f'--build-dir={os.path.join(work, "build")}',
             f'--cache-dir={options.cache_dir}']

    # Warm the build dir on the base, so the steps below measure what a
    # user's incremental bisection costs.
    run_git(tree, 'checkout', '-q', history.base)
    t = time.monotonic()
    code, _ = tee(step, tree, out)
    cold_s = time.monotonic() - t
    run_git(tree, 'checkout', '-q', BRANCH)
    _note(out, f'cold build+run on the base: exit {code} in {cold_s:.0f} s')
    if code != 0:
        return False, (f'the base did not pass (bisect-step exit {code}) '
                       f'in {cold_s:.0f} s')
    dirty = _dirty(tree)
    if dirty:
        return False, f'tree not clean after the warm-up step: {dirty!r}'

    t = time.monotonic()
    code, log = _bisect(tree, history, step, out)
    bisect_s = time.monotonic() - t
    dirty = _dirty(tree)
    average = sum(log.seconds) / len(log.seconds) if log.seconds else 0
    figures = (f'{log.steps} steps ({", ".join(log.verdicts)}), '
               f'{average:.0f} s per step on average, cold build '
               f'{cold_s:.0f} s, bisection {bisect_s:.0f} s, total '
               f'{time.monotonic() - started:.0f} s')
    if code != 0:
        return False, f'git bisect run exited with {code}; {figures}'
    if dirty:
        return False, f'tree not clean after bisecting: {dirty!r}; {figures}'
    if 'skip' not in log.verdicts:
        return False, (f'no step was skipped, so the build-break commits '
                       f'were never tried; {figures}')
    if log.first_bad != history.bug:
        found = log.first_bad[:12] if log.first_bad else 'no commit'
        return False, (f'git bisect named {found} as the first bad commit, '
                       f'not the bug commit {history.bug[:12]}; {figures}')
    return True, (f'found the bug commit {history.bug[:12]} (mutant '
                  f'{bug.name}); {figures}')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cache_dir(parser)
    add_source(parser)
    parser.add_argument('--keep', action='store_true',
                        help='keep the scratch repository and build dir')


def handle(args: argparse.Namespace, out: TextIO) -> int:
    return run_selftest(SelftestOptions(cache_dir=args.cache_dir,
                                        repo_root=args.repo_root,
                                        keep=args.keep,
                                        source=args.source), out)


BISECT_SELFTEST = Subcommand(
    'bisect-selftest', 'make a kernel git history with a planted bug and '
    'check that git bisect run with bisect-step finds it; last line '
    '"bisect-selftest: PASS|FAIL ..."', add_arguments, handle)
