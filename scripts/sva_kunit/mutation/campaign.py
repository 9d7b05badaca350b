"""A mutation campaign on one tree: every mutant that can be switched is
compiled in at once (schemata.py) and costs one boot, several boots at a
time; the others are patched in and rebuilt one by one.  Used by `mutate`
and `check`."""

import concurrent.futures
import contextlib
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Sequence, TextIO

from .. import locks
from ..errors import EXIT_OK, SetupError
from ..run.kunit_runner import (BUILDING, CONFIGURING, STARTING,
                                test_log_path)
from ..run.suite_run import (RunOptions, RunOutcome, default_build_dir,
                             default_jobs, hold_build_dir, resolve_tree,
                             run_suite, sync_payload)
from ..tree.fs_journal import read_file
from . import mutation_journal, schemata
from .mutant_report import (NO_APPLY, MutantResult, classify, progress_line,
                            rig_line, summary_line, table)
from .mutants import Mutant, NoApply, fitting, load_catalogue, select

# The kernel's own detectors, so that a mutant that hangs the kernel
# speaks before the time limit: a task blocked for 10 s (reported within
# 20 s), a CPU that does not schedule for 2 * watchdog_thresh s.  Run's
# kernel has them built in but idle (suite_run.IDLE_DETECTORS), so the
# mutation build, a copy of run's, rebuilds one file for them.  (RCU stall
# reports would need CONFIG_PREEMPT on UML, whose preemption hides the
# soft lockups of a looping kernel.)
DETECTORS = ('CONFIG_DETECT_HUNG_TASK=y',
             'CONFIG_DEFAULT_HUNG_TASK_TIMEOUT=10',
             'CONFIG_SOFTLOCKUP_DETECTOR=y')
DETECTOR_ARGS = ('watchdog_thresh=5',)
# Where the kernel has KUnit's timeout parameter (v6.16 and later), a case
# still running after it (3x for a slow case) fails.
KUNIT_TIMEOUT_ARG = 'kunit.timeout=10'
# The model's exhaustive case runs sequences for 12 s; a mutant boot gives
# it 5.5 s (every sequence of up to 2 or 3 steps), just over the age
# kmemleak wants of an object before it reports it: the leak case after it
# then judges what every earlier suite allocated, without a wait. With
# --filter, the chosen cases run as they would in `run`.
MODEL_BUDGET_ARG = 'iommu_sva_model_test.budget_ms=5500'
_KUNIT_TIMEOUT = re.compile(r'module_param_named\(\s*timeout\s*,')
# A boot's limit: this many times the unmutated kernel's, plus a margin.
BOOT_LIMIT_FACTOR, BOOT_LIMIT_MARGIN_S = 3, 10.0
# The patch-and-rebuild way's limit per mutant, build included: the
# baseline's build, a boot's limit and this margin; 120 s without one.
PATCH_MARGIN_S, PATCH_TIMEOUT_S = 30.0, 120.0
BUILD_DIR_SUFFIX = '-mutants'


@dataclass
class Campaign:
    tree: str
    baseline_s: float          # the unmutated kernel's run, build included
    boot_limit_s: float = 0.0  # a switched mutant's limit (0: none ran)
    seconds: float = 0.0       # the whole campaign but its verification
    results: List[MutantResult] = field(default_factory=list)
    fallback: Dict[str, str] = field(default_factory=dict)  # name: why
    # verify: (name, result by switch, result by patch) for each mutant
    # checked both ways; those that differ fail the campaign.
    verified: List[tuple] = field(default_factory=list)

    @property
    def mismatches(self) -> List[tuple]:
        return [v for v in self.verified if v[1] != v[2]]


def boot_args(tree: str) -> List[str]:
    found = read_file(os.path.join(tree, 'lib', 'kunit', 'test.c'))
    has_timeout = bool(found and _KUNIT_TIMEOUT.search(
        found[0].decode('utf-8', 'replace')))
    return [*DETECTOR_ARGS, *([KUNIT_TIMEOUT_ARG] if has_timeout else [])]


def mutation_options(options: RunOptions, tree: str) -> RunOptions:
    """The run options of every mutant build and boot: the user's, in a
    build directory of their own with the detectors."""
    return replace(options, build_dir=options.build_dir or (
        default_build_dir(options, tree) + BUILD_DIR_SUFFIX),
        kconfig_add=(*options.kconfig_add, *DETECTORS),
        kernel_args=(*options.kernel_args, *boot_args(tree),
                     *([] if options.filter_glob else [MODEL_BUDGET_ARG])))


def seed(build_dir: str, run_build_dir: str, out: TextIO) -> None:
    """Start a new mutation build directory as a copy of run's build of
    the same tree: kbuild tracks every object's CONFIG_ options, so the
    detectors then rebuild only what they reach, not the kernel."""
    if os.path.exists(os.path.join(build_dir, '.config')) or not (
            os.path.isfile(os.path.join(run_build_dir, 'linux'))):
        return
    locks.hold_build_dir(run_build_dir, out)  # no run builds there now
    out.write(f'sva-kunit: starting {build_dir} as a copy of '
              f'{run_build_dir}\n')
    out.flush()
    proc = subprocess.run(['cp', '-a', '--reflink=auto',
                           os.path.join(run_build_dir, '.'), build_dir],
                          capture_output=True, text=True, check=False)
    if proc.returncode:  # then kbuild builds it all, as without a copy
        out.write(f'sva-kunit: copying failed ({proc.stderr.strip()}); '
                  'building from scratch\n')


def _slot(build_dir: str, index: int) -> str:
    """A directory to boot the build dir's kernel from, beside the other
    boots: kunit.py exec writes its test.log into the build dir."""
    slot = os.path.join(build_dir, 'boots', str(index))
    os.makedirs(slot, exist_ok=True)
    link = os.path.join(slot, 'linux')
    if not os.path.islink(link):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink(os.path.join('..', '..', 'linux'), link)
    return slot


def _keep_log(outcome: RunOutcome, log_path: str) -> None:
    # The next boot in this directory overwrites it.
    with contextlib.suppress(OSError):
        shutil.copyfile(test_log_path(outcome.build_dir),
                        log_path[:-4] + '.test.log')


def patched(tree: str, mutant: Mutant, options: RunOptions, log_dir: str,
            suffix: str = '') -> MutantResult:
    """The patch-and-rebuild way: apply, build, run, judge; restored
    however this ends, or by the journal."""
    start = time.monotonic()
    try:
        record = mutation_journal.apply(tree, mutant)
    except NoApply as e:
        return MutantResult(mutant, NO_APPLY, note=str(e))
    log_path = os.path.join(log_dir, f'{mutant.name}{suffix}.log')
    try:
        with open(log_path, 'w', encoding='utf-8',
                  errors='backslashreplace') as log:
            outcome = run_suite(replace(options, smp=mutant.cpus > 1), log,
                                tree=tree)
    finally:
        mutation_journal.restore(tree, record)
    _keep_log(outcome, log_path)
    return replace(classify(mutant, outcome), log=log_path,
                   seconds=time.monotonic() - start)


def _boot_all(tree: str, numbers: Dict[Mutant, int], options: RunOptions,
              log_dir: str, boots: int,
              on_result: Callable[[MutantResult], None]
              ) -> Dict[str, MutantResult]:
    """Boot the schemata kernel once per mutant, `boots` at a time."""
    slots: 'queue.Queue[str]' = queue.Queue()
    for index in range(boots):
        slots.put(_slot(options.build_dir, index))
    cancel = threading.Event()

    def boot(mutant: Mutant) -> MutantResult:
        slot = slots.get()
        try:
            start = time.monotonic()
            log_path = os.path.join(log_dir, f'{mutant.name}.log')
            selected = replace(options, build_dir=slot, kernel_args=(
                *options.kernel_args,
                f'{schemata.PARAMETER}={numbers[mutant]}'),
                smp=mutant.cpus > 1)
            with open(log_path, 'w', encoding='utf-8',
                      errors='backslashreplace') as log:
                outcome = run_suite(selected, log, tree=tree, boot_only=True,
                                    cancel=cancel)
            _keep_log(outcome, log_path)
            return replace(classify(mutant, outcome), log=log_path,
                           seconds=time.monotonic() - start)
        finally:
            slots.put(slot)

    results: Dict[str, MutantResult] = {}
    with concurrent.futures.ThreadPoolExecutor(boots) as pool:
        futures = {pool.submit(boot, m): m for m in numbers}
        try:
            for future in concurrent.futures.as_completed(futures):
                result = future.result()
                results[result.mutant.name] = result
                on_result(result)
        except BaseException:
            for future in futures:
                future.cancel()  # those not started yet
            cancel.set()  # those running stop their kernels
            raise
    return results


def run_campaign(only: Sequence[str], options: RunOptions, out: TextIO,
                 verify: Sequence[str] = (), boots: int = 1,
                 patch_timeout: Optional[float] = None) -> Campaign:
    """Prepare the tree, then judge every mutant written for it (or those
    named in `only`); verify names the mutants to judge by patching as
    well ('*': all), whose verdicts must agree."""
    started = time.monotonic()
    tree = resolve_tree(options, out)
    # The mutants written for the --source tree; for a tree of the user's
    # (or one that none is written for), the variant of each that fits.
    written = [] if options.kernel else load_catalogue(options.repo_root,
                                                       options.source)
    selected = select(written or fitting(load_catalogue(options.repo_root),
                                         tree), only)
    select(selected, [name for name in verify if name != '*'])
    run_build_dir = default_build_dir(options, tree)
    options = mutation_options(options, tree)
    options.build_dir = hold_build_dir(options.build_dir, out)
    sync_payload(tree, options.repo_root, out)
    seed(options.build_dir, run_build_dir, out)
    originals = {}
    for rel in sorted({m.file for m in selected}):
        found = read_file(os.path.join(tree, rel))
        if found is not None:
            originals[rel] = found[0]
    plan, misfits = schemata.plan(originals, selected)
    by_name = {m.name: m for m in selected}
    numbers = {by_name[name]: n for name, n in plan.numbers.items()}
    results = {name: MutantResult(by_name[name], NO_APPLY, note=why)
               for name, why in misfits.items()}
    for name, why in plan.fallback.items():
        out.write(f'sva-kunit: {name}: built by patching, since {why}\n')
    log_dir = os.path.join(options.build_dir, 'mutants')
    os.makedirs(log_dir, exist_ok=True)
    done = [0]

    def report(result: MutantResult) -> None:
        done[0] += 1
        out.write(progress_line(done[0], len(selected), result) + '\n')
        out.flush()

    for result in results.values():
        report(result)
    record = (mutation_journal.apply_files(tree, plan.files)
              if plan.files else None)
    try:
        what = ('the unmutated schemata kernel' if record
                else 'the unmutated kernel')
        out.write(f'sva-kunit: baseline: {what} ({len(numbers)} mutants '
                  f'switched in {len(plan.files)} files, '
                  f'{len(plan.fallback)} built by patching), build dir '
                  f'{options.build_dir}\n')
        out.flush()
        baseline = run_suite(options, out, tree=tree)
        if baseline.exit_code != EXIT_OK and record is not None:
            # The schemata may be at fault (a generator bug, a file it
            # misreads): if the unmutated kernel passes, patch them all.
            mutation_journal.restore(tree, record)
            record = None
            why = (f'the schemata kernel failed ({baseline.summary}) where '
                   'the unmutated kernel passes')
            out.write(f'sva-kunit: baseline: {baseline.summary}; trying the '
                      'unmutated kernel\n')
            baseline = run_suite(options, out, tree=tree)
            if baseline.exit_code == EXIT_OK:
                plan.fallback.update((m.name, why) for m in numbers)
                numbers = {}
                out.write(f'sva-kunit: {why}: every mutant is built by '
                          'patching\n')
        if baseline.exit_code != EXIT_OK:
            for line in baseline.details:
                out.write(f'sva-kunit:   {line}\n')
            raise SetupError(f'the unmutated kernel does not pass '
                             f'({baseline.summary})', 'make `sva-kunit run` '
                             'pass first: a mutant can only be judged '
                             'against a green baseline')
        out.write(f'sva-kunit: baseline: {baseline.summary} in '
                  f'{baseline.elapsed:.0f} s\n')
        campaign = Campaign(tree, baseline.elapsed)
        build_s = sum(baseline.kunit.seconds.get(stage, 0.0)
                      for stage in (CONFIGURING, BUILDING))
        if numbers:
            boot_s = baseline.kunit.seconds.get(STARTING, 0.0)
            campaign.boot_limit_s = (BOOT_LIMIT_FACTOR * boot_s
                                     + BOOT_LIMIT_MARGIN_S)
            # At most one boot per CPU: each keeps one busy.
            boots = max(1, min(boots, default_jobs(), len(numbers)))
            out.write(f'sva-kunit: booting each switched mutant, {boots} at '
                      f'a time, for at most {campaign.boot_limit_s:.0f} s '
                      f'({BOOT_LIMIT_FACTOR} x the {boot_s:.1f} s of the '
                      'unmutated boot, plus '
                      f'{BOOT_LIMIT_MARGIN_S:.0f} s); logs in {log_dir}\n')
            out.flush()
            results.update(_boot_all(
                tree, numbers, replace(options,
                                       timeout=campaign.boot_limit_s),
                log_dir, boots, report))
    finally:
        if record is not None:
            mutation_journal.restore(tree, record)
    patch_options = replace(options, timeout=patch_timeout or (
        build_s + campaign.boot_limit_s + PATCH_MARGIN_S
        if campaign.boot_limit_s else PATCH_TIMEOUT_S))
    for name in plan.fallback:
        results[name] = patched(tree, by_name[name], patch_options, log_dir)
        report(results[name])
    campaign.seconds = time.monotonic() - started
    for name in verify:
        if name != '*' and by_name[name] not in numbers:
            # Nothing to compare: say so, as a difference.
            campaign.verified.append((name, 'not switched',
                                      results[name].result, 0.0))
    checked = [m for m in numbers if '*' in verify or m.name in verify]
    for mutant in checked:
        out.write(f'sva-kunit: verify: {mutant.name} by patching\n')
        out.flush()
        again = patched(tree, mutant, patch_options, log_dir, '.patched')
        campaign.verified.append((mutant.name, results[mutant.name].result,
                                  again.result, again.seconds))
    campaign.results = [results[m.name] for m in selected]
    campaign.fallback = dict(plan.fallback)
    return campaign


def report_lines(campaign: Campaign) -> List[str]:
    """The table, the summary, and what was built by patching or checked
    both ways."""
    core = [r for r in campaign.results if not r.mutant.rig]
    rig = [r for r in campaign.results if r.mutant.rig]
    lines = ['', *table(core), '']
    if rig:
        lines += ['fake-driver mutants (they test the test rig):',
                  *table(rig), '']
    lines += [f'sva-kunit: {name}: built by patching, since {why}'
              for name, why in campaign.fallback.items()]
    for name, switched, patched, _ in campaign.verified:
        lines.append(f'sva-kunit: verify: {name}: {switched} by switch, '
                     f'{patched} by patching' + (
                         '' if switched == patched else ': DIFFERENT'))
    if campaign.verified:
        bad = len(campaign.mismatches)
        lines.append(f'sva-kunit: verify: {len(campaign.verified)} mutants '
                     'judged both ways, ' + (
                         f'{bad} verdicts differ' if bad else
                         'the same verdicts'))
    return lines + [summary_line(campaign.results, campaign.baseline_s),
                    *filter(None, [rig_line(campaign.results)])]
