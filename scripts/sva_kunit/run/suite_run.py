"""Prepare a tree, run the suite on it (via kunit_runner) and judge it.

The layer above kunit_runner.py, and the one code path of every command
that runs the suite: it finds or fetches the kernel tree, installs the
suite's files and packages, locks the build directory, turns RunOptions
into kunit.py's command line for the architecture, has kunit_runner run
that, then judges the kernel log (kernel_log.py) and kunit.py's JSON
results (kunit_json.py) into one RunOutcome with its PASS/FAIL line.
kunit_runner.py knows only kunit.py; this module knows the suite, the
trees and what counts as a pass.

`run`, `check`, `bench`, `mutate` and `bisect-step` all go through
run_suite(), so what they test is exactly what a developer gets from
`sva-kunit run`; plain kunit.py in `bench` gets the same command line
through kunit_argv().
"""

import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List, Mapping, Optional, Sequence, TextIO

from .. import locks
from ..errors import EXIT_FAILED, EXIT_OK, SetupError
from ..mutation import mutation_journal
from ..tree import debian_fetch, installer, kernel_sources, source_cache
from ..tree.kernel_tree import require_host_tools, validate_tree
from ..tree.packages import REQUIRED_PACKAGES, ensure_packages
from ..tree.payload import collect_payload, default_repo_root
from . import kernel_log, qemu_tcg
from .arches import get_arch
from .kernel_log import Verdict
from .kunit_json import TestResult, load_results
from .kunit_runner import (BUILDING, CONFIGURING, RUN, KunitRun, kunit_command,
                           run_kunit, test_log_path)

RESULTS_JSON = 'sva-kunit-results.json'


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


def default_tree(cache_dir: str, out: TextIO, arch: str = 'um',
                 source: str = kernel_sources.DEFAULT_SOURCE) -> str:
    """The cached tree of the --source package, after installing what
    it needs; the package itself from the machine's apt if it has it,
    else fetched from its Debian suite into the cache."""
    chosen = kernel_sources.get_source(source)
    packages = REQUIRED_PACKAGES + get_arch(arch).packages
    if debian_fetch.needed(chosen, cache_dir):
        ensure_packages(out, packages)
        return debian_fetch.fetched_tree(cache_dir, chosen, out)
    versions = ensure_packages(out, packages + (chosen.package,))
    return source_cache.ensure_tree(cache_dir, chosen.package,
                                    versions[chosen.package], out)


def resolve_tree(options: RunOptions, out: TextIO) -> str:
    """Validated tree path; nothing in it is changed yet, except that a
    file an interrupted `mutate` left mutated is restored."""
    arch = get_arch(options.arch)
    if options.kernel is None:
        tree = validate_tree(default_tree(options.cache_dir, out, arch.name,
                                          options.source))
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


def make_options(use_ccache: bool,
                 which: Optional[Callable[[str], Optional[str]]] = None,
                 arch: str = 'um') -> List[str]:
    # kunit.py passes each --make_options to make as one argument, so the
    # space inside survives without shell quoting.
    which = which or shutil.which
    if not use_ccache or not which('ccache'):
        return []
    return [f'CC={get_arch(arch).make_cc}']


def ccache_env(env: Optional[Mapping[str, str]], use_ccache: bool
               ) -> Optional[Mapping[str, str]]:
    """ccache's depend mode, unless the user chose a mode.

    A miss in the default mode runs the preprocessor as well as the
    compiler, which made a cold build 40% slower than plain kunit.py;
    depend mode hashes the sources and the headers that the compiler's
    own -MMD output lists (the kernel always passes it), so a miss costs
    about nothing and a hit still needs every listed header unchanged.
    """
    if not use_ccache:
        return env
    child = dict(os.environ if env is None else env)
    child.setdefault('CCACHE_DEPEND', '1')
    return child


def default_build_dir(options: RunOptions, tree: str) -> str:
    """One build dir per tree and architecture (UML keeps the plain one)."""
    base = source_cache.build_dir_for(options.cache_dir, tree)
    return base if options.arch == 'um' else f'{base}-{options.arch}'


def _fresh(path: str, since: float) -> bool:
    try:
        return os.stat(path).st_mtime >= since - 1
    except OSError:
        return False


def _read_results(json_path: str, since: float) -> Optional[List[TestResult]]:
    if not _fresh(json_path, since):
        return None
    try:
        return load_results(json_path)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # fall back to the results found in the log itself


def judge_run(run: KunitRun, build_dir: str, json_path: str,
              started: float) -> RunOutcome:
    """Turn kunit.py's exit, test.log and JSON into exit code + summary."""
    log_path = test_log_path(build_dir)
    if not run.kernel_ran or not _fresh(log_path, started):
        what = {CONFIGURING: 'configure the kernel',
                BUILDING: 'build the kernel'}.get(run.stage,
                                                  'start or run the kernel')
        return RunOutcome(EXIT_FAILED, f'FAIL: kunit.py failed to {what} '
                          f'(exit {run.returncode}); see its output above',
                          [], None, run, build_dir)
    with open(log_path, encoding='utf-8', errors='backslashreplace') as f:
        text = f.read()
    verdict = kernel_log.judge(text, _read_results(json_path, started))
    details = list(kernel_log.summarize(verdict))
    total = len(verdict.tests)
    failed = verdict.failed_tests
    if not total:
        summary = (f'FAIL: no KUnit test results in {log_path}; the kernel '
                   'ran no tests (crashed during boot, or the filter '
                   'matched nothing)')
    elif verdict.passed and run.returncode == 0:
        skipped = sum(t.skipped for t in verdict.tests)
        counts = (f'{total - skipped} tests passed, {skipped} skipped'
                  if skipped else f'{total} tests passed')
        return RunOutcome(EXIT_OK, f'PASS: {counts}; kernel log clean',
                          details, verdict, run, build_dir)
    elif verdict.passed:
        summary = (f'FAIL: kunit.py exited with {run.returncode} although '
                   f'all {total} tests passed; see its output above')
    else:
        parts = []
        if failed:
            names = ', '.join(t.name for t in failed[:5])
            more = ', ...' if len(failed) > 5 else ''
            parts.append(f'{len(failed)} of {total} tests failed ({names}'
                         f'{more})')
        else:
            parts.append(f'all {total} tests passed')
        if verdict.unfinished:
            parts.append(f'the log ends inside {verdict.unfinished}')
        elif verdict.suites_missing:
            parts.append(f'{verdict.suites_missing} suites never reported')
        bad = verdict.reports
        parts.append(f'kernel log: {len(bad)} report(s) during tests'
                     if bad else 'kernel log clean')
        summary = 'FAIL: ' + '; '.join(parts)
    return RunOutcome(EXIT_FAILED, summary, details, verdict, run, build_dir)


def kunit_argv(options: RunOptions, build_dir: str,
               json_path: Optional[str] = None,
               make_opts: Sequence[str] = (),
               subcommand: str = RUN) -> List[str]:
    """kunit.py's command line for options' architecture: its cross
    compiler and QEMU arguments, then the user's QEMU arguments."""
    arch = get_arch(options.arch)
    return kunit_command(build_dir, arch.name, options.jobs,
                         options.filter_glob, json_path, options.kconfig_add,
                         make_opts, arch.cross_compile,
                         arch.qemu_args + tuple(options.qemu_args),
                         subcommand=subcommand,
                         kernel_args=options.kernel_args,
                         run_timeout=options.run_timeout)


def qemu_env(options: RunOptions, env: Optional[Mapping[str, str]]
             ) -> Optional[Mapping[str, str]]:
    """`env` with the TCG-only QEMU wrapper first on PATH when options'
    architecture runs under QEMU (see qemu_tcg.py)."""
    qemu = get_arch(options.arch).qemu
    if not qemu:
        return env
    return qemu_tcg.tcg_env(options.cache_dir, qemu, env)


def run_suite(options: RunOptions, out: TextIO = sys.stdout,
              env: Optional[Mapping[str, str]] = None,
              tree: Optional[str] = None,
              subcommand: str = RUN) -> RunOutcome:
    """Prepare (unless tree is given, already prepared) and run the suite.

    subcommand=EXEC boots the kernel already built in the build dir
    (`kunit.py exec`) instead of configuring and building it first."""
    start = time.monotonic()
    if tree is None:
        tree = resolve_tree(options, out)
        sync_payload(tree, options.repo_root, out)
    build_dir = os.path.abspath(options.build_dir or
                                default_build_dir(options, tree))
    build_dir = locks.hold_build_dir(build_dir, out)
    json_path = os.path.abspath(options.json_path or
                                os.path.join(build_dir, RESULTS_JSON))
    make_opts = make_options(options.use_ccache, arch=options.arch)
    argv = kunit_argv(options, build_dir, json_path, make_opts, subcommand)
    out.write('sva-kunit: ' + shlex.join(argv) + '\n')
    out.flush()
    started = time.time()
    child_env = qemu_env(options, ccache_env(env, bool(make_opts)))
    run = run_kunit(tree, argv, out, child_env, options.timeout)
    outcome = judge_run(run, build_dir, json_path, started)
    if run.timed_out:
        # What the log shows up to the kill is judged as usual, but a run
        # that had to be stopped never passes.
        stage = run.stage or 'start'
        outcome.exit_code = EXIT_FAILED
        outcome.summary = (f'FAIL: stopped after {options.timeout:g} s in '
                           f'the {stage} stage; ' +
                           outcome.summary.split(': ', 1)[-1])
    outcome.elapsed = time.monotonic() - start
    return outcome
