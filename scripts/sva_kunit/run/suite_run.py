"""Prepare a tree, run the suite on it (kunit_runner) and judge the run:
the one code path of every command that runs the suite (`run`, `check`,
`bench`, `mutate`, `bisect-step`), so each tests what `run` gives."""

import contextlib
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import List, Mapping, Optional, Sequence, TextIO, Tuple

from .. import locks
from ..errors import EXIT_FAILED, EXIT_OK, SetupError
from ..mutation import mutation_journal
from ..tree import installer, kernel_sources
from ..tree.kernel_tree import KUNIT_PY, require_host_tools, validate_tree
from ..tree.kernel_sources import REQUIRED_PACKAGES, ensure_packages
from ..tree.payload import collect_payload, default_repo_root
from . import kernel_log
from .arches import get_arch, tcg_env
from .kernel_log import Verdict
from .kunit_runner import (BUILDING, CONFIGURING, RUN, STAGES, STARTING,
                           KunitRun, run_kunit, test_log_path)

KUNITCONFIG_DIR = 'drivers/iommu'


def default_jobs() -> int:
    return len(os.sched_getaffinity(0))


@dataclass
class RunOptions:
    cache_dir: str
    kernel: Optional[str] = None       # None: the cached linux-source tree
    source: str = kernel_sources.DEFAULT_SOURCE   # which one (--source)
    build_dir: Optional[str] = None    # None: one per tree in the cache
    filter_glob: str = ''
    json_path: Optional[str] = None
    kconfig_add: Sequence[str] = ()
    qemu_args: Sequence[str] = ()
    kernel_args: Sequence[str] = ()
    run_timeout: Optional[int] = None  # kunit.py's --timeout (its own: 300)
    arch: str = 'um'
    jobs: int = field(default_factory=default_jobs)
    use_ccache: bool = True
    repo_root: str = field(default_factory=default_repo_root)
    timeout: Optional[float] = None    # seconds for kunit.py, build included


@dataclass
class RunOutcome:
    exit_code: int
    summary: str                     # the final one-line verdict
    details: List[str]               # lines explaining failures
    verdict: Optional[Verdict]       # None when the kernel never ran
    kunit: KunitRun
    build_dir: str = ''
    elapsed: float = 0.0


def resolve_tree(options: RunOptions, out: TextIO) -> str:
    """Validated tree path, after installing what it needs (a cached
    tree's package from the machine's apt, else fetched from its Debian
    suite); nothing in it is changed yet, except that a file an
    interrupted `mutate` left mutated is restored."""
    arch = get_arch(options.arch)
    if options.kernel is None:
        tree = validate_tree(kernel_sources.source_tree(
            options.cache_dir, options.source, out,
            REQUIRED_PACKAGES + arch.packages))
    else:
        tree = validate_tree(options.kernel)
        require_host_tools()
        if arch.packages:
            ensure_packages(out, arch.packages)
    locks.hold_tree(tree, options.cache_dir, out)
    mutation_journal.repair(tree, out)
    return tree


def sync_payload(tree: str, repo_root: str, out: TextIO) -> None:
    """Make the tree hold exactly the current suite code."""
    payload = collect_payload(repo_root)
    if not payload:
        raise SetupError(f'no suite files under {repo_root}/drivers or '
                         f'{repo_root}/tools', 'run sva-kunit from its '
                         'repository checkout')
    plan = installer.sync(tree, payload)
    for line in installer.describe(plan, dry_run=False):
        out.write(f'sva-kunit: {line}\n')


def make_options(use_ccache: bool, arch: str = 'um') -> List[str]:
    if not use_ccache or not shutil.which('ccache'):
        return []
    return [f'CC=ccache {get_arch(arch).cross_compile}gcc']


def ccache_env(env: Optional[Mapping[str, str]], use_ccache: bool
               ) -> Optional[Mapping[str, str]]:
    """ccache's depend mode, unless the user chose a mode: a miss in the
    default mode runs the preprocessor too (a cold build 40% slower than
    plain kunit.py); depend mode hashes the headers the compiler's -MMD
    output lists, which the kernel always asks for."""
    if not use_ccache:
        return env
    child = dict(os.environ if env is None else env)
    child.setdefault('CCACHE_DEPEND', '1')
    return child


def default_build_dir(options: RunOptions, tree: str) -> str:
    """One build dir per tree and architecture (UML keeps the plain one)."""
    base = kernel_sources.build_dir_for(options.cache_dir, tree)
    return base if options.arch == 'um' else f'{base}-{options.arch}'


def judge_run(run: KunitRun, build_dir: str
              ) -> Tuple[bool, str, Optional[Verdict]]:
    """Passed?, the summary (less its PASS/FAIL) and the verdict."""
    log_path = test_log_path(build_dir)
    if not run.kernel_ran or not os.path.exists(log_path):
        what = {CONFIGURING: 'configure the kernel',
                BUILDING: 'build the kernel'}.get(run.stage,
                                                  'start or run the kernel')
        return False, (f'kunit.py failed to {what} (exit {run.returncode}); '
                       'see its output above'), None
    with open(log_path, encoding='utf-8', errors='backslashreplace') as f:
        verdict = kernel_log.judge(f.read())
    total, failed = len(verdict.tests), verdict.failed_tests
    if not total:
        return False, (f'no KUnit test results in {log_path}; the kernel '
                       'ran no tests (crashed during boot, or the filter '
                       'matched nothing)'), verdict
    if verdict.passed and run.returncode == 0:
        skipped = sum(t.skipped for t in verdict.tests)
        counts = (f'{total - skipped} tests passed, {skipped} skipped'
                  if skipped else f'{total} tests passed')
        return True, f'{counts}; kernel log clean', verdict
    if verdict.passed:
        return False, (f'kunit.py exited with {run.returncode} although all '
                       f'{total} tests passed; see its output above'), verdict
    names = ', '.join(t.name for t in failed[:5]) + (
        ', ...' if len(failed) > 5 else '')
    parts = [f'{len(failed)} of {total} tests failed ({names})'
             if failed else f'all {total} tests passed']
    if verdict.unfinished:
        parts.append(f'the log ends inside {verdict.unfinished}')
    elif verdict.suites_missing:
        parts.append(f'{verdict.suites_missing} suites never reported')
    bad = len(verdict.reports)
    parts.append(f'kernel log: {bad} report(s) during tests'
                 if bad else 'kernel log clean')
    return False, '; '.join(parts), verdict


def kunit_argv(options: RunOptions, subcommand: str, build_dir: str,
               json_path: Optional[str] = None,
               make_opts: Sequence[str] = ()) -> List[str]:
    """argv for `kunit.py SUBCOMMAND` on the suite, from the tree's top,
    with the options that subcommand takes (the same in 6.12 and 7.3)."""
    arch = get_arch(options.arch)
    argv = ['python3', KUNIT_PY, subcommand,
            f'--kunitconfig={KUNITCONFIG_DIR}', f'--build_dir={build_dir}',
            f'--arch={options.arch}']
    if subcommand in (RUN, BUILDING):
        argv.append(f'--jobs={options.jobs}')
    boots = subcommand in (RUN, STARTING)
    if boots:
        # KASAN reports only the first bad access of a boot unless told
        # otherwise; then one report would hide every later one.
        argv.append('--kernel_args=kasan_multi_shot')
        argv.extend(f'--kernel_args={arg}' for arg in options.kernel_args)
        if options.run_timeout:
            argv.append(f'--timeout={options.run_timeout}')
        if json_path:
            # "=" form: --json takes an optional value and must not
            # swallow the filter glob.
            argv.append(f'--json={json_path}')
    argv.extend(f'--kconfig_add={option}' for option in options.kconfig_add)
    # kunit.py passes each to make as one argument, and splits each
    # --qemu_args value like a shell would; the user's come last, so
    # that a later -cpu wins.
    argv.extend(f'--make_options={option}' for option in make_opts)
    if arch.cross_compile:
        argv.append(f'--cross_compile={arch.cross_compile}')
    argv.extend(f'--qemu_args={args}'
                for args in arch.qemu_args + tuple(options.qemu_args))
    if boots and options.filter_glob:
        argv.append(options.filter_glob)
    return argv


def run_suite(options: RunOptions, out: TextIO = sys.stdout,
              env: Optional[Mapping[str, str]] = None,
              tree: Optional[str] = None,
              boot_only: bool = False) -> RunOutcome:
    """Prepare (unless tree is given, already prepared) and run the suite;
    boot_only boots the kernel already built in the build dir."""
    start = time.monotonic()
    if tree is None:
        tree = resolve_tree(options, out)
        sync_payload(tree, options.repo_root, out)
    build_dir = locks.hold_build_dir(os.path.abspath(
        options.build_dir or default_build_dir(options, tree)), out)
    # kunit.py writes the user's --json; the verdict's results, like its
    # reports, come from the log.
    json_path = options.json_path and os.path.abspath(options.json_path)
    make_opts = make_options(options.use_ccache, options.arch)
    commands = [(stage, kunit_argv(options, stage, build_dir, json_path,
                                   make_opts))
                for stage in ((STARTING,) if boot_only else STAGES)]
    # A boot that fails before the kernel writes its log must not be
    # judged on the log of an earlier run.
    with contextlib.suppress(FileNotFoundError):
        os.remove(test_log_path(build_dir))
    child_env = tcg_env(options.cache_dir, get_arch(options.arch).qemu,
                        ccache_env(env, bool(make_opts)))
    run = run_kunit(tree, commands, out, child_env, options.timeout)
    passed, summary, verdict = judge_run(run, build_dir)
    if run.timed_out:
        # What the log shows up to the kill is judged as usual, but a run
        # that had to be stopped never passes.
        passed = False
        summary = (f'stopped after {options.timeout:g} s in the {run.stage} '
                   f'stage; {summary}')
    return RunOutcome(EXIT_OK if passed else EXIT_FAILED,
                      ('PASS: ' if passed else 'FAIL: ') + summary,
                      list(kernel_log.summarize(verdict)) if verdict else [],
                      verdict, run, build_dir, time.monotonic() - start)
