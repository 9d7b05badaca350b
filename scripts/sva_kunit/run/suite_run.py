"""Prepare a tree, run the suite on it (kunit_runner) for an architecture
and judge the run: the one code path of every command that runs the suite
(`run`, `check`, `bench`, `mutate`, `bisect-step`)."""

import contextlib
import os
import re
import shlex
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Dict, List, Mapping, Optional, Sequence, TextIO, Tuple

from .. import locks
from ..errors import EXIT_FAILED, EXIT_OK, SetupError
from ..tree import installer, kernel_sources
from ..tree.fs_journal import atomic_write, repair_mutation
from ..tree.kernel_tree import KUNIT_PY, require_host_tools, validate_tree
from ..tree.kernel_sources import REQUIRED_PACKAGES, ensure_packages
from ..tree.payload import collect_payload, default_repo_root
from . import kernel_log
from .kernel_log import Verdict
from .kunit_runner import (BUILDING, CONFIGURING, RUN, STAGES, STARTING,
                           KunitRun, run_kunit, test_log_path)


@dataclass(frozen=True)
class Arch:
    packages: Tuple[str, ...]      # Debian packages beyond the common ones
    cross_compile: str = ''        # kunit.py's --cross_compile prefix
    qemu: str = ''                 # the QEMU binary kunit.py starts
    qemu_args: Tuple[str, ...] = ()  # kunit.py's, before the user's


ARCHES: Dict[str, Arch] = {
    'um': Arch(()),
    'arm64': Arch(('gcc-aarch64-linux-gnu', 'qemu-system-arm'),
                  cross_compile='aarch64-linux-gnu-',
                  qemu='qemu-system-aarch64',
                  # 7.3's kunit.py dropped it; then Debian 12's QEMU
                  # emulates architected pointer auth: 225 s, not 45 s.
                  qemu_args=('-cpu max,pauth-impdef=on',)),
    'x86_64': Arch(('qemu-system-x86',), qemu='qemu-system-x86_64'),
}


def get_arch(name: str) -> Arch:
    try:
        return ARCHES[name]
    except KeyError:
        raise SetupError(f'--arch={name} is not supported (supported: '
                         f'{", ".join(ARCHES)})', 'use --arch=um, arm64 or '
                         'x86_64') from None


# A limit for a run that needs none (a cold build may take long), only so
# that kunit.py runs in its own process group, which Ctrl-C and SIGTERM
# then stop as a whole.
GROUP_TIMEOUT_S = 3 * 3600


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
    smp: bool = False                  # boot two CPUs (UML_SMP_ARGS, -smp 2)
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


def check_options(options: RunOptions) -> None:
    """What the parser cannot see alone, checked before any work: QEMU
    arguments only where QEMU runs, and paths kbuild can build in (it
    refuses a source path with a blank or a colon, and breaks on such
    an object path)."""
    if options.qemu_args and not get_arch(options.arch).qemu:
        raise SetupError(f'--qemu-args with --arch={options.arch}, which '
                         'runs no QEMU', 'add --arch=arm64 or x86_64, or '
                         'leave out --qemu-args')
    paths = [('--kernel', options.kernel), ('--build-dir', options.build_dir)]
    if options.kernel is None or options.build_dir is None:
        paths.append(('--cache-dir', options.cache_dir))  # holds one
    if options.json_path and options.kernel and locks.inside(
            options.json_path, options.kernel):
        raise SetupError(f'--json={options.json_path} is inside the kernel '
                         'tree', 'write it outside: sva-kunit never changes '
                         'a file of yours there')
    for option, path in paths:
        if path and re.search(r'[\s:]', os.path.abspath(path)):
            raise SetupError(f'{option}={os.path.abspath(path)}: kbuild '
                             'cannot build in a path with a blank or a '
                             'colon', 'use a path without them')


def resolve_tree(options: RunOptions, out: TextIO) -> str:
    """Validated tree path, after installing what it needs; nothing in
    it is changed yet, but for a file an interrupted `mutate` left."""
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
    installer.check_state(tree)
    repair_mutation(tree, out)
    return tree


def hold_locks(options: RunOptions, out: TextIO) -> None:
    """Lock --kernel's tree, then its build dir, before anything uses
    them (resolve_tree locks a cached tree once it has found it)."""
    if options.kernel is None:
        if options.build_dir:
            options.build_dir = locks.make_directory(options.build_dir)
        return
    tree = validate_tree(options.kernel)
    locks.hold_tree(tree, options.cache_dir, out)
    options.build_dir = hold_build_dir(
        options.build_dir or default_build_dir(options, tree), out)


# What the harness keeps in a build directory besides kbuild's output:
# if any is of the wrong kind, say so before the tree is touched.
BUILD_DIR_FILES, BUILD_DIR_DIRS = ('test.log',), ('repeat-logs', 'mutants',
                                                  'boots')


def hold_build_dir(build_dir: str, out: TextIO) -> str:
    path = locks.hold_build_dir(build_dir, out)
    for name, kind, test in [(n, 'a file', os.path.isfile)
                             for n in BUILD_DIR_FILES] + [
                                 (n, 'a directory', os.path.isdir)
                                 for n in BUILD_DIR_DIRS]:
        found = os.path.join(path, name)
        if os.path.lexists(found) and (os.path.islink(found)
                                       or not test(found)):
            raise SetupError(f'{found} is not {kind}', 'move it away and '
                             'rerun')
    return path


def sync_payload(tree: str, repo_root: str, out: TextIO) -> None:
    """Make the tree hold exactly the current suite code."""
    plan = installer.sync(tree, collect_payload(repo_root))
    for line in installer.describe(plan, dry_run=False):
        out.write(f'sva-kunit: {line}\n')


# UML runs on several CPUs since v6.17, with its seccomp userspace only
# (ptrace's cannot).  Where it can, its kernel is always built for SMP and
# boots one CPU unless asked for two, so that --smp needs no other build.
# kunit.py's x86_64 kernel has no SMP unless told (arm64's always has).
SMP_CONFIG = 'CONFIG_SMP=y'
# kmemleak frees its records with call_rcu(), and UML's second CPU frees
# its start-up data before it is online: with kmemleak on, every two-CPU
# boot of 7.3 prints "Callback enqueued on offline CPU!!" (lockdep).
UML_SMP_ARGS = ('ncpus=2', 'seccomp=on', 'kmemleak=off')
QEMU_SMP_ARGS = '-smp 2'


def uml_has_smp(tree: str) -> bool:
    def text(*path: str) -> str:
        try:
            with open(os.path.join(tree, *path), encoding='utf-8',
                      errors='replace') as f:
                return f.read()
        except OSError:
            return ''
    return bool(re.search(r'^config SMP$', text('arch', 'um', 'Kconfig'),
                          re.M)) and '"seccomp="' in text(
        'arch', 'um', 'os-Linux', 'start_up.c')


def with_smp(options: RunOptions, tree: str) -> RunOptions:
    """The options for the tree: UML's SMP build where it has one, and
    two CPUs booted with --smp (refused where the tree's UML has none)."""
    if get_arch(options.arch).qemu:
        return replace(options, kconfig_add=(SMP_CONFIG, *options.kconfig_add),
                       qemu_args=(QEMU_SMP_ARGS, *options.qemu_args)
                       ) if options.smp else options
    if not uml_has_smp(tree):
        if options.smp:
            raise SetupError('--smp: the UML of this kernel has no SMP '
                             '(it came with v6.17)', "use --arch=arm64 "
                             "(or x86_64), which boots QEMU with '-smp 2'")
        return options
    return replace(options, kconfig_add=(SMP_CONFIG, *options.kconfig_add),
                   kernel_args=(*(UML_SMP_ARGS if options.smp else ()),
                                *options.kernel_args))


def default_build_dir(options: RunOptions, tree: str) -> str:
    """One build dir per tree and architecture (UML keeps the plain one)."""
    base = kernel_sources.build_dir_for(options.cache_dir, tree)
    return base if options.arch == 'um' else f'{base}-{options.arch}'


def make_options(use_ccache: bool, arch: str = 'um') -> List[str]:
    if not use_ccache or not shutil.which('ccache'):
        return []
    return [f'CC=ccache {get_arch(arch).cross_compile}gcc']


def ccache_env(env: Optional[Mapping[str, str]], use_ccache: bool
               ) -> Optional[Mapping[str, str]]:
    """ccache's depend mode unless the user chose one: it hashes the
    headers -MMD lists; the default mode's misses run the preprocessor
    too (a cold build 40% slower than plain kunit.py)."""
    if not use_ccache:
        return env
    child = dict(os.environ if env is None else env)
    child.setdefault('CCACHE_DEPEND', '1')
    return child


# kunit.py from v6.13 on asks QEMU for `-accel kvm -accel hvf -accel
# tcg`.  On the virtual machines this project runs on, nested KVM opens
# but does not work (a guest hangs until the time limit).  kunit.py has
# no option for the accelerator, so it finds this wrapper first on PATH.
WRAPPER = '''#!/bin/sh
# Written by sva-kunit (scripts/sva_kunit/run/suite_run.py): run QEMU with
# TCG only, whatever -accel options kunit.py gives.
accel=
for arg do
	shift
	if [ -n "$accel" ]; then
		accel=
		[ "$arg" = tcg ] && set -- "$@" -accel tcg
	elif [ "$arg" = -accel ]; then
		accel=1
	else
		set -- "$@" "$arg"
	fi
done
exec {real} "$@"
'''


def tcg_env(options: RunOptions, env: Optional[Mapping[str, str]]
            ) -> Optional[Mapping[str, str]]:
    """`env` (None: ours) with the TCG-only wrapper of the arch's QEMU
    (written if missing or stale) first in PATH, if the arch has one."""
    qemu = get_arch(options.arch).qemu
    if not qemu:
        return env
    child = dict(os.environ if env is None else env)
    path = child.get('PATH', os.defpath)
    real = shutil.which(qemu, path=path)
    if real is None:
        raise SetupError(f'{qemu} not found on PATH',
                         'install QEMU (the harness does, as root)')
    directory = os.path.join(options.cache_dir, 'qemu-tcg')
    target = os.path.join(directory, qemu)
    text = WRAPPER.format(real=shlex.quote(real))
    try:
        with open(target, encoding='utf-8') as f:
            stale = f.read() != text
    except OSError:
        stale = True
    if stale:
        os.makedirs(directory, exist_ok=True)
        # Two runs may write it at once; each gets a temporary file.
        atomic_write(target, text.encode(), 0o755)
    child['PATH'] = directory + os.pathsep + path
    return child


# The suite's minimal .kunitconfig, and the fragment of the debug options
# that catch what its assertions cannot see (KASAN, lockdep, kmemleak...).
KUNITCONFIGS = ('--kunitconfig=drivers/iommu',
                '--kunitconfig=tools/testing/kunit/configs/iommu_sva.config')


# The kernel's lockup detectors, built into every run's kernel but idle
# there (a hung task timeout of 0, soft lockups after 20 s): a mutation
# build, which arms them, is then run's build plus kernel/hung_task.c, not
# the whole kernel that task_struct's hung-task fields would rebuild.
IDLE_DETECTORS = ('CONFIG_DETECT_HUNG_TASK=y',
                  'CONFIG_DEFAULT_HUNG_TASK_TIMEOUT=0',
                  'CONFIG_SOFTLOCKUP_DETECTOR=y')


def kunit_argv(options: RunOptions, subcommand: str, build_dir: str
               ) -> List[str]:
    """argv for `kunit.py SUBCOMMAND` on the suite, from the tree's top,
    with the options that subcommand takes (the same in 6.12 and 7.3)."""
    arch = get_arch(options.arch)
    argv = ['python3', KUNIT_PY, subcommand, *KUNITCONFIGS,
            f'--build_dir={build_dir}', f'--arch={options.arch}']
    if subcommand in (RUN, BUILDING):
        argv.append(f'--jobs={options.jobs}')
    boots = subcommand in (RUN, STARTING)
    if boots:
        # KASAN reports only the first bad access of a boot unless told
        # otherwise; then one report would hide every later one.
        argv.extend(f'--kernel_args={arg}'
                    for arg in ('kasan_multi_shot', *options.kernel_args))
        if options.run_timeout:
            argv.append(f'--timeout={options.run_timeout}')
        if options.json_path:
            # "=" form: --json takes an optional value and must not
            # swallow the filter glob.
            argv.append(f'--json={os.path.abspath(options.json_path)}')
    # The user's and the campaign's come last: kunit.py keeps the last.
    argv.extend(f'--kconfig_add={option}'
                for option in (*IDLE_DETECTORS, *options.kconfig_add))
    # kunit.py passes each to make as one argument, and splits each
    # --qemu_args value like a shell would; the user's come last, so
    # that a later -cpu wins.
    argv.extend(f'--make_options={option}' for option in
                make_options(options.use_ccache, options.arch))
    if arch.cross_compile:
        argv.append(f'--cross_compile={arch.cross_compile}')
    argv.extend(f'--qemu_args={args}'
                for args in arch.qemu_args + tuple(options.qemu_args))
    if boots and options.filter_glob:
        argv.append(options.filter_glob)
    return argv


def judge_run(run: KunitRun, build_dir: str
              ) -> Tuple[bool, str, Optional[Verdict]]:
    """Passed?, the summary (less its PASS/FAIL) and the verdict."""
    log_path = test_log_path(build_dir)
    if not run.kernel_ran or not os.path.exists(log_path):
        what = {CONFIGURING: 'configure', BUILDING: 'build'}.get(
            run.stage, 'start or run')
        return False, (f'kunit.py failed to {what} the kernel (exit '
                       f'{run.returncode}); see its output above'), None
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


def run_suite(options: RunOptions, out: TextIO = sys.stdout,
              env: Optional[Mapping[str, str]] = None,
              tree: Optional[str] = None,
              boot_only: bool = False,
              cancel: Optional[threading.Event] = None) -> RunOutcome:
    """Prepare (unless tree is given, already prepared) and run the suite;
    boot_only boots the kernel already built in the build dir; a set
    cancel stops it like Ctrl-C."""
    start = time.monotonic()
    if tree is None:
        tree = resolve_tree(options, out)
        build_dir = hold_build_dir(
            options.build_dir or default_build_dir(options, tree), out)
        sync_payload(tree, options.repo_root, out)
    else:
        build_dir = hold_build_dir(
            options.build_dir or default_build_dir(options, tree), out)
    options = with_smp(options, tree)
    commands = [(stage, kunit_argv(options, stage, build_dir))
                for stage in ((STARTING,) if boot_only else STAGES)]
    # A boot that fails before the kernel writes its log must not be
    # judged on the log of an earlier run.
    with contextlib.suppress(FileNotFoundError):
        os.remove(test_log_path(build_dir))
    run = run_kunit(tree, commands, out, tcg_env(options, ccache_env(
        env, options.use_ccache)), options.timeout, cancel)
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
