"""The bisect self-test: make a git history with a planted bug on a
fresh Debian tree and check that `git bisect run ... bisect-step` names
exactly the bug commit, leaving the tree clean after every step."""

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, TextIO, Tuple

from .. import locks
from ..git_tools import GitError, git_text
from ..errors import EXIT_FAILED, EXIT_OK, SetupError
from ..mutation import mutants
from ..tree import kernel_sources

BUG_MUTANT = 'no-handle-refcount-inc'
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
# The bug comes after the fix, so every commit before it builds or is
# skippable and the first bad commit is decidable.  The break spans two
# commits in the middle of the range, so git's first pick cannot take the
# suite and the skip (125) path runs for real.
HISTORY = ((HARMLESS, 'Documentation/arch/x86/sva.rst'),
           (HARMLESS, 'drivers/iommu/iommu.c'),
           (HARMLESS, 'Documentation/userspace-api/iommufd.rst'),
           (BREAK, SVA_C), (HARMLESS, 'Documentation/arch/x86/sva.rst'),
           (FIX, SVA_C), (BUG, SVA_C), (HARMLESS, 'drivers/iommu/iommu.c'))
BUG_INDEX = HISTORY.index((BUG, SVA_C))
STEP_LINE = re.compile(r'^sva-kunit bisect-step: \S+ (good|bad|skip) '
                       r'\(.*\) in (\d+) s$', re.M)
FIRST_BAD = re.compile(r'^([0-9a-f]{40}) is the first bad commit$', re.M)


@dataclass
class SelftestOptions:
    cache_dir: str
    repo_root: str
    keep: bool = False
    source: str = kernel_sources.DEFAULT_SOURCE


def run_git(tree: str, *args: str) -> str:
    return git_text(tree, (*GIT_CONFIG, *args))


def init_repo(tree: str) -> str:
    """Make the tree one commit of a fresh git repository; its sha."""
    run_git(tree, 'init', '-q', '-b', BRANCH)
    # -f: like upstream git, track every file the tarball ships, even
    # those .gitignore matches (.gitignore itself, .clang-format, and
    # with Debian's "/*" stanza, everything at the top level).
    run_git(tree, 'add', '-A', '-f')
    run_git(tree, 'commit', '-q', '-m', 'base: linux-source as shipped')
    return run_git(tree, 'rev-parse', 'HEAD')


def build_history(tree: str, bug: mutants.Mutant) -> List[str]:
    """Commit each change of HISTORY on top of HEAD; the shas."""
    commits = []
    for kind, path in HISTORY:
        full = os.path.join(tree, *path.split('/'))
        with open(full, 'rb') as f:
            data = f.read()
        subject = f'bisect-selftest: {kind} in {path}'
        if kind == BUG:
            try:
                data = mutants.mutate(data, bug)
            except mutants.NoApply as e:
                raise SetupError(f'cannot make the "{subject}" commit ({e})',
                                 'the self-test needs an unmodified Debian '
                                 'linux-source tree') from None
            subject += f' (mutant {bug.name})'
        elif kind == FIX:
            data = data.removesuffix(BREAK_TEXT)
        else:  # a harmless change is one more blank line at the end
            data += BREAK_TEXT if kind == BREAK else b'\n'
        with open(full, 'wb') as f:
            f.write(data)
        run_git(tree, 'commit', '-q', '-a', '-m', subject)
        commits.append(run_git(tree, 'rev-parse', 'HEAD'))
    return commits


def parse_bisect_output(text: str) -> Tuple[Optional[str], List[str],
                                            List[int]]:
    """(first bad commit or None, verdicts, seconds per step)."""
    first_bad = FIRST_BAD.search(text)
    verdicts, seconds = list(zip(*STEP_LINE.findall(text))) or ((), ())
    return (first_bad and first_bad.group(1), list(verdicts),
            [int(s) for s in seconds])


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
    """Unpack a one-top-directory tarball under into; the tree's path.
    Not a copy of the cached tree: `run` and `mutate` change that one."""
    os.makedirs(into, exist_ok=True)
    proc = subprocess.run(['tar', '-xf', tarball, '-C', into,
                           '--no-same-owner'], check=False)
    entries = os.listdir(into)
    if proc.returncode != 0 or len(entries) != 1:
        raise SetupError(f'extracting {tarball} into {into} failed',
                         'check free space in the cache dir and rerun')
    return os.path.join(into, entries[0])


def run_selftest(options: SelftestOptions, out: TextIO) -> int:
    """The whole self-test; the last line written is PASS or FAIL."""
    work = tempfile.mkdtemp(prefix='bisect-selftest-',
                            dir=locks.make_cache_dir(options.cache_dir))
    try:
        passed, why = _selftest_in(work, options, out)
    except (GitError, SetupError) as e:
        passed, why = False, str(e)
    finally:
        if options.keep:
            out.write(f'{PREFIX}kept {work}\n')
        else:
            shutil.rmtree(work, ignore_errors=True)
    out.write(f'{PREFIX}{"PASS" if passed else "FAIL"}: '
              f'{" ".join(why.split())}\n')
    out.flush()
    return EXIT_OK if passed else EXIT_FAILED


def _selftest_in(work: str, options: SelftestOptions, out: TextIO
                 ) -> Tuple[bool, str]:
    started = time.monotonic()
    bug = mutants.select(mutants.load_catalogue(options.repo_root),
                         [BUG_MUTANT])[0]
    fetched = os.path.join(work, 'deb')
    tarball = kernel_sources.source_tree(options.cache_dir, options.source,
                                         out, tarball_into=fetched)
    t = time.monotonic()
    tree = extract(tarball, os.path.join(work, 'src'))
    extract_s, t = time.monotonic() - t, time.monotonic()
    shutil.rmtree(fetched, ignore_errors=True)
    base = init_repo(tree)
    commits = build_history(tree, bug)
    bug_sha = commits[BUG_INDEX]
    out.write(f'{PREFIX}{tree}: extracted {tarball} in {extract_s:.0f} s; '
              f'git repository with {len(commits)} commits on the base in '
              f'{time.monotonic() - t:.0f} s; bug commit {bug_sha[:12]} '
              f'({BUG_INDEX + 1} of {len(commits)})\n')
    step = [os.path.join(options.repo_root, 'scripts', 'sva-kunit'),
            'bisect-step', f'--build-dir={os.path.join(work, "build")}',
            f'--cache-dir={options.cache_dir}']

    # Warm the build dir on the base, so the steps below measure what a
    # user's incremental bisection costs.
    run_git(tree, 'checkout', '-q', base)
    t = time.monotonic()
    code, _ = tee(step, tree, out)
    cold_s = time.monotonic() - t
    run_git(tree, 'checkout', '-q', BRANCH)
    if code != 0:
        return False, (f'the base did not pass (bisect-step exit {code}) '
                       f'in {cold_s:.0f} s')

    t = time.monotonic()
    run_git(tree, 'bisect', 'start', commits[-1], base)
    try:
        code, text = tee(['git', *GIT_CONFIG, 'bisect', 'run', *step],
                         tree, out)
    finally:
        run_git(tree, 'bisect', 'reset')
    first_bad, verdicts, seconds = parse_bisect_output(text)
    # What the warm-up or any step left behind, even git-ignored.
    dirty = (run_git(tree, 'status', '--porcelain=v1', '--ignored',
                     '--untracked-files=all') + '\n').splitlines()[0]
    figures = (f'{len(verdicts)} steps ({", ".join(verdicts)}), '
               f'{sum(seconds) / max(len(seconds), 1):.0f} s per step on '
               f'average, cold build {cold_s:.0f} s, bisection '
               f'{time.monotonic() - t:.0f} s, total '
               f'{time.monotonic() - started:.0f} s')
    for failed, why in (
            (code != 0, f'git bisect run exited with {code}'),
            (dirty, f'tree not clean after bisecting: {dirty!r}'),
            ('skip' not in verdicts, 'no step was skipped, so the '
             'build-break commits were never tried'),
            (first_bad != bug_sha, f'git bisect named '
             f'{(first_bad or "no commit")[:12]} as the first bad commit, '
             f'not the bug commit {bug_sha[:12]}')):
        if failed:
            return False, f'{why}; {figures}'
    return True, (f'found the bug commit {bug_sha[:12]} (mutant '
                  f'{bug.name}); {figures}')
