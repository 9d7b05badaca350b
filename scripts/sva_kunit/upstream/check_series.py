"""The series as a maintainer would receive it, checked end to end.

On a git repository made from Debian's pristine 7.3 tarball: format-patch
writes the series, `git am` applies it to a clean branch, checkpatch.pl
--strict judges every patch, get_maintainer.pl must name the iommu list
and maintainers, every patch must build (each C file it adds compiled),
the fake driver must build as a module (modpost finds every symbol it
uses exported), and plain `kunit.py run --kunitconfig=drivers/iommu` must
pass on the result, with nothing of this project in between.
"""

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, List, TextIO

from .. import cmd_bisect_selftest as repo_tools
from .. import cmd_format_patch
from ..bisect.git_tree import GitError, git, git_text
from ..errors import SetupError
from ..run.suite_run import ccache_env, make_options
from . import series

SOURCE = '7.3'
WORK_DIR = 'series-check'
BRANCH = 'series-check'
CHECKPATCH_CLEAN = re.compile(r'^total: 0 errors, 0 warnings, 0 checks, ',
                              re.M)
# What get_maintainer.pl must name for the series to reach the right
# people: the subsystem's list and its maintainers.
IOMMU_LIST = 'iommu@lists.linux.dev'
IOMMU_MAINTAINER = '(maintainer:IOMMU SUBSYSTEM)'
FAKE_IOMMU_OPTION = 'CONFIG_FAKE_IOMMU=y'
MODULE_KUNITCONFIG = ('CONFIG_KUNIT=y\nCONFIG_MODULES=y\n'
                      'CONFIG_IOMMU_SUPPORT=y\nCONFIG_FAKE_IOMMU=m\n')
FAKE_IOMMU_KO = 'drivers/iommu/fake-iommu/fake-iommu.ko'

Record = Callable[[str, bool], None]


@dataclass
class SeriesCheckOptions:
    cache_dir: str
    repo_root: str
    jobs: int
    use_ccache: bool = True


def _git(tree: str, *args: str) -> str:
    return git_text(tree, args)


def _say(out: TextIO, text: str) -> None:
    out.write(f'series: {text}\n')
    out.flush()


def defined_symbols(tree: str, rev: str, symbols: List[str]) -> List[str]:
    """Those of symbols that some Kconfig file of rev defines."""
    found = []
    for symbol in symbols:
        proc = git(tree, ('grep', '-q', '-E', f'^\\s*(menu)?config {symbol}$',
                          rev, '--', '*Kconfig*'), check=False)
        if proc.returncode == 0:
            found.append(symbol)
    return found


def kunitconfig_at(tree: str, rev: str, final: str) -> str:
    """The final .kunitconfig (plus the fake driver), cut to the options
    that exist at rev, so that every patch builds what it adds."""
    lines = [line for line in final.splitlines()
             if line.startswith('CONFIG_')] + [FAKE_IOMMU_OPTION]
    symbols = [line.split('=')[0][len('CONFIG_'):] for line in lines]
    keep = set(defined_symbols(tree, rev, symbols))
    return ''.join(f'{line}\n' for line, symbol in zip(lines, symbols)
                   if symbol in keep)


def _kunit_py(tree: str, subcommand: str, kunitconfig: str, build_dir: str,
              options: SeriesCheckOptions, out: TextIO) -> int:
    make = make_options(options.use_ccache)
    argv = ['python3', 'tools/testing/kunit/kunit.py', subcommand,
            f'--kunitconfig={kunitconfig}', f'--build_dir={build_dir}',
            f'--jobs={options.jobs}', *(f'--make_options={m}' for m in make)]
    _say(out, ' '.join(argv))
    code, _ = repo_tools.tee(argv, tree, out,
                             env=ccache_env(None, bool(make)))
    return code


def check_patches(tree: str, patches: List[str], out: TextIO,
                  record: Record) -> None:
    for patch in patches:
        result = _run(['perl', 'scripts/checkpatch.pl', '--strict', patch],
                      tree)
        name = os.path.basename(patch)
        clean = result[0] == 0 and bool(CHECKPATCH_CLEAN.search(result[1]))
        total = next((line for line in result[1].splitlines()
                      if line.startswith('total:')), 'no total line')
        _say(out, f'checkpatch.pl --strict {name}: {total}')
        if not clean:
            out.write(result[1])
        record(f'checkpatch.pl --strict {name}', clean)


def _run(argv: List[str], cwd: str) -> tuple:
    """(exit code, stdout and stderr) of argv run in cwd."""
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                          errors='replace', stdin=subprocess.DEVNULL,
                          check=False)
    return proc.returncode, proc.stdout + proc.stderr


def check_maintainers(tree: str, patches: List[str], out: TextIO,
                      record: Record) -> None:
    code, text = _run(['perl', 'scripts/get_maintainer.pl', '--no-git',
                       '--no-git-fallback', *patches], tree)
    for line in text.splitlines():
        _say(out, f'get_maintainer.pl: {line}')
    record('get_maintainer.pl names the iommu list and maintainers',
           code == 0 and IOMMU_LIST in text and IOMMU_MAINTAINER in text)


def build_each(tree: str, base: str, build_dir: str, final_kunitconfig: str,
               options: SeriesCheckOptions, work: str, out: TextIO,
               record: Record) -> None:
    commits = _git(tree, 'rev-list', '--reverse', f'{base}..{BRANCH}'
                   ).split()
    for number, sha in enumerate(commits, 1):
        subject = _git(tree, 'log', '-1', '--format=%s', sha)
        _git(tree, 'checkout', '-q', sha)
        kunitconfig = os.path.join(work, f'kunitconfig-{number}')
        with open(kunitconfig, 'w', encoding='utf-8') as f:
            f.write(kunitconfig_at(tree, sha, final_kunitconfig))
        started = time.monotonic()
        code = _kunit_py(tree, 'build', kunitconfig, build_dir, options, out)
        added = _git(tree, 'diff-tree', '--no-commit-id', '--name-only',
                     '-r', '--diff-filter=A', sha).split()
        missing = [rel for rel in added if rel.endswith('.c') and not
                   os.path.exists(os.path.join(build_dir, rel[:-2] + '.o'))]
        ok = code == 0 and not missing
        why = (f'kunit.py build exit {code}' if code else
               f'not compiled: {", ".join(missing)}' if missing else
               f'built, {len([r for r in added if r.endswith(".c")])} new C '
               'files compiled')
        _say(out, f'patch {number} ({subject}): {why} in '
             f'{time.monotonic() - started:.0f} s')
        record(f'builds after patch {number}', ok)
    _git(tree, 'checkout', '-q', BRANCH)


def check_module(tree: str, work: str, options: SeriesCheckOptions,
                 out: TextIO, record: Record) -> None:
    """The fake driver as a module: modpost refuses any symbol it uses
    that the kernel does not export."""
    kunitconfig = os.path.join(work, 'kunitconfig-module')
    with open(kunitconfig, 'w', encoding='utf-8') as f:
        f.write(MODULE_KUNITCONFIG)
    build_dir = os.path.join(work, 'build-module')
    started = time.monotonic()
    code = _kunit_py(tree, 'build', kunitconfig, build_dir, options, out)
    module = os.path.join(build_dir, *FAKE_IOMMU_KO.split('/'))
    ok = code == 0 and os.path.exists(module)
    _say(out, f'fake driver as a module: kunit.py build exit {code}, '
         f'{FAKE_IOMMU_KO} {"built" if os.path.exists(module) else "missing"}'
         f' in {time.monotonic() - started:.0f} s')
    record('the fake driver builds as a module (modpost)', ok)


def run_series_check(options: SeriesCheckOptions, out: TextIO,
                     record: Record) -> None:
    # A fixed place rather than a fresh temporary name, so that the
    # compiler sees the same paths on every run and ccache can hit.
    work = os.path.join(options.cache_dir, WORK_DIR)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        _check_in(work, options, out, record)
    except GitError as e:
        _say(out, f'FAIL: {e}')
        record('series check (git)', False)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_in(work: str, options: SeriesCheckOptions, out: TextIO,
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
    for key, value in (('user.name', 'sva-kunit check'),
                       ('user.email', 'check@sva-kunit.invalid')):
        _git(tree, 'config', key, value)
    _say(out, f'{tree}: pristine Linux {SOURCE} as one commit in '
         f'{time.monotonic() - started:.0f} s')

    outdir = os.path.join(work, 'series')
    try:
        files = cmd_format_patch.write_series(tree, options.repo_root,
                                              outdir)
    except SetupError as e:
        _say(out, e.one_line())
        record('format-patch writes the series', False)
        return
    record('format-patch writes the series', True)
    patches = files[1:]
    _say(out, f'format-patch: a cover letter and {len(patches)} patches')

    _git(tree, 'checkout', '-q', '-b', BRANCH)
    code, text = _run(['git', 'am', '-q', '--whitespace=error',
                       *patches], tree)
    out.write(text)
    record('git am applies the series to a clean branch', code == 0)
    if code != 0:
        return
    check_patches(tree, patches, out, record)
    check_maintainers(tree, patches, out, record)

    build_dir = os.path.join(work, 'build')
    final = series.read_repo_file(options.repo_root, series.KUNITCONFIG)
    t = time.monotonic()
    build_each(tree, base, build_dir, final, options, work, out, record)
    _say(out, f'every patch built in {time.monotonic() - t:.0f} s')

    check_module(tree, work, options, out, record)

    t = time.monotonic()
    code = _kunit_py(tree, 'run', 'drivers/iommu', build_dir, options, out)
    _say(out, f'plain kunit.py run --kunitconfig=drivers/iommu: exit {code} '
         f'in {time.monotonic() - t:.0f} s')
    record('plain kunit.py run on the series passes', code == 0)
