"""The series as a maintainer would receive it, checked end to end on a git
repository of Debian's pristine 7.3 tarball, with nothing of this project
between plain kunit.py and the kernel (README, "The upstream series")."""

import os
import re
import shutil
import subprocess
import time
from typing import Callable, List, TextIO, Tuple

from .. import cmd_bisect_selftest as repo_tools
from .. import cmd_format_patch
from ..bisect.git_tree import GitError, git, git_text
from ..errors import SetupError
from ..run.suite_run import RunOptions, ccache_env, make_options
from . import series

SOURCE = '7.3'
BRANCH = 'series-check'
CHECKPATCH_CLEAN = re.compile(r'^total: 0 errors, 0 warnings, 0 checks, ',
                              re.M)
# What get_maintainer.pl must name for the series to reach the right
# people: the subsystem's list and its maintainers.
MAINTAINERS_NAMED = ('iommu@lists.linux.dev', '(maintainer:IOMMU SUBSYSTEM)')
MODULE_KUNITCONFIG = ('CONFIG_KUNIT=y\nCONFIG_MODULES=y\n'
                      'CONFIG_IOMMU_SUPPORT=y\nCONFIG_FAKE_IOMMU=m\n')
FAKE_IOMMU_KO = 'drivers/iommu/fake-iommu/fake-iommu.ko'

Record = Callable[[str, bool], None]


def _say(out: TextIO, text: str) -> None:
    out.write(f'series: {text}\n')
    out.flush()


def _run(argv: List[str], cwd: str) -> Tuple[int, str]:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                          errors='replace', stdin=subprocess.DEVNULL,
                          check=False)
    return proc.returncode, proc.stdout + proc.stderr


def kunitconfig_at(tree: str, rev: str, final: str) -> str:
    """The final .kunitconfig (plus the fake driver), cut to the options
    that some Kconfig file of rev defines, so that every patch builds
    what it adds."""
    kept = ''
    for line in [line for line in final.splitlines()
                 if line.startswith('CONFIG_')] + ['CONFIG_FAKE_IOMMU=y']:
        symbol = line.split('=')[0][len('CONFIG_'):]
        if git(tree, ('grep', '-q', '-E', f'^\\s*(menu)?config {symbol}$',
                      rev, '--', '*Kconfig*'), check=False).returncode == 0:
            kept += line + '\n'
    return kept


def _kunit_py(tree: str, subcommand: str, kunitconfig: str, build_dir: str,
              options: RunOptions, out: TextIO) -> Tuple[int, str]:
    """kunit.py's exit code, and how long it ran, as text."""
    make = make_options(options.use_ccache)
    argv = ['python3', 'tools/testing/kunit/kunit.py', subcommand,
            f'--kunitconfig={kunitconfig}', f'--build_dir={build_dir}',
            f'--jobs={options.jobs}', *(f'--make_options={m}' for m in make)]
    _say(out, ' '.join(argv))
    started = time.monotonic()
    code, _ = repo_tools.tee(argv, tree, out,
                             env=ccache_env(None, bool(make)))
    return code, f'in {time.monotonic() - started:.0f} s'


def _write(path: str, text: str) -> str:
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    return path


def run_series_check(options: RunOptions, out: TextIO,
                     record: Record) -> None:
    # A fixed place rather than a fresh temporary name, so that the
    # compiler sees the same paths on every run and ccache can hit.
    work = os.path.join(options.cache_dir, 'series-check')
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        _check_in(work, options, out, record)
    except GitError as e:
        _say(out, f'FAIL: {e}')
        record('series check (git)', False)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_in(work: str, options: RunOptions, out: TextIO,
              record: Record) -> None:
    started = time.monotonic()
    selftest = repo_tools.SelftestOptions(cache_dir=options.cache_dir,
                                          repo_root=options.repo_root,
                                          source=SOURCE)
    tarball = repo_tools.source_tarball(selftest, os.path.join(work, 'deb'),
                                        out)
    tree = repo_tools.extract(tarball, os.path.join(work, 'src'))
    shutil.rmtree(os.path.join(work, 'deb'), ignore_errors=True)
    base = repo_tools.init_repo(tree)
    git_text(tree, ('config', 'user.name', 'sva-kunit check'))
    git_text(tree, ('config', 'user.email', 'check@sva-kunit.invalid'))
    _say(out, f'{tree}: pristine Linux {SOURCE} as one commit in '
         f'{time.monotonic() - started:.0f} s')

    try:
        patches = cmd_format_patch.write_series(
            tree, options.repo_root, os.path.join(work, 'series'))[1:]
    except SetupError as e:
        _say(out, e.one_line())
        record('format-patch writes the series', False)
        return
    record('format-patch writes the series', True)
    _say(out, f'format-patch: a cover letter and {len(patches)} patches')

    git_text(tree, ('checkout', '-q', '-b', BRANCH))
    code, text = _run(['git', 'am', '-q', '--whitespace=error', *patches],
                      tree)
    out.write(text)
    record('git am applies the series to a clean branch', code == 0)
    if code != 0:
        return
    for patch in patches:
        name = os.path.basename(patch)
        code, text = _run(['perl', 'scripts/checkpatch.pl', '--strict',
                           patch], tree)
        total = next((line for line in text.splitlines()
                      if line.startswith('total:')), 'no total line')
        _say(out, f'checkpatch.pl --strict {name}: {total}')
        clean = code == 0 and bool(CHECKPATCH_CLEAN.search(text))
        if not clean:
            out.write(text)
        record(f'checkpatch.pl --strict {name}', clean)

    code, text = _run(['perl', 'scripts/get_maintainer.pl', '--no-git',
                       '--no-git-fallback', *patches], tree)
    for line in text.splitlines():
        _say(out, f'get_maintainer.pl: {line}')
    record('get_maintainer.pl names the iommu list and maintainers',
           code == 0 and all(name in text for name in MAINTAINERS_NAMED))

    # Every patch must build, each C file it adds compiled.
    build_dir = os.path.join(work, 'build')
    final = series.read_repo_file(options.repo_root, series.KUNITCONFIG)
    t = time.monotonic()
    commits = git_text(tree, ('log', '--reverse', '--format=%H %s',
                              f'{base}..{BRANCH}'))
    for number, commit in enumerate(commits.splitlines(), 1):
        sha, subject = commit.split(' ', 1)
        git_text(tree, ('checkout', '-q', sha))
        code, took = _kunit_py(tree, 'build', _write(
            os.path.join(work, f'kunitconfig-{number}'),
            kunitconfig_at(tree, sha, final)), build_dir, options, out)
        added = [rel for rel in git_text(tree, (
            'diff-tree', '--no-commit-id', '--name-only', '-r',
            '--diff-filter=A', sha)).split() if rel.endswith('.c')]
        missing = [rel for rel in added if not
                   os.path.exists(os.path.join(build_dir, rel[:-2] + '.o'))]
        why = (f'kunit.py build exit {code}' if code else
               f'not compiled: {", ".join(missing)}' if missing else
               f'built, {len(added)} new C files compiled')
        _say(out, f'patch {number} ({subject}): {why} {took}')
        record(f'builds after patch {number}', code == 0 and not missing)
    git_text(tree, ('checkout', '-q', BRANCH))
    _say(out, f'every patch built in {time.monotonic() - t:.0f} s')

    # modpost refuses any symbol the module uses that is not exported.
    module_dir = os.path.join(work, 'build-module')
    code, took = _kunit_py(tree, 'build', _write(
        os.path.join(work, 'kunitconfig-module'), MODULE_KUNITCONFIG),
        module_dir, options, out)
    built = os.path.exists(os.path.join(module_dir, FAKE_IOMMU_KO))
    _say(out, f'fake driver as a module: kunit.py build exit {code}, '
         f'{FAKE_IOMMU_KO} {"built" if built else "missing"} {took}')
    record('the fake driver builds as a module (modpost)',
           code == 0 and built)

    code, took = _kunit_py(tree, 'run', 'drivers/iommu', build_dir, options,
                           out)
    _say(out, f'plain kunit.py run --kunitconfig=drivers/iommu: exit {code} '
         f'{took}')
    record('plain kunit.py run on the series passes', code == 0)
