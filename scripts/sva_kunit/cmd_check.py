"""`sva-kunit check`: the project's whole test command, one section per
part with the time it took (README, "What CI runs").  The last line is
always "N passed, N failed" so CI can read it."""

import argparse
import os
import re
import shutil
import time
import unittest
from dataclasses import dataclass, replace
from typing import Optional, Sequence, TextIO

from .bisect import selftest
from .upstream import module_run, series
from .git_tools import GitError, git_text
from .command import Subcommand, add_cache_dir
from .errors import ERROR_PREFIX, EXIT_FAILED, EXIT_OK, SetupError
from .locks import sigterm_as_interrupt
from .mutation.campaign import report_lines, run_campaign
from .run.suite_run import (GROUP_TIMEOUT_S, KUNITCONFIGS, QEMU_SMP_ARGS,
                            RunOptions, ccache_env, check_options,
                            make_options, resolve_tree, run_suite,
                            uml_has_smp)
from .tree import checkpatch, kernel_sources

# Every Debian tree the suite supports runs on UML and through the
# mutation catalogue; the newest also under QEMU, and the upstream series
# is checked on it; the bisect self-test runs once, on the tree that
# builds fastest.
CHECKED_SOURCES = ('7.3', '6.12')
NEWEST_SOURCE = '7.3'
BISECT_SOURCE = '6.12'
# Mutants judged both ways on the newest tree (the schemata must give the
# patch-and-rebuild way's verdicts): the reference's first three, a kill
# by KASAN, by kmemleak and by a WARN, the deadlock that only lockdep and
# the time limit see, and the known survivor.
VERIFY_SAMPLE = ('no-mmgrab', 'no-mmdrop', 'no-users-inc-on-share',
                 'no-handle-refcount-inc', 'handle-leak-on-alloc-failure',
                 'undo-all-group-devices', 'lock-held-on-rebind',
                 'no-other-mm-busy-check')
# The race cases again on UML with two CPUs (--smp), where UML has SMP:
# its one-CPU boot skips them.
RACE_FILTER = 'iommu_sva_race*'
# The data race detector, which excludes KASAN: the arm64 part runs with
# it instead (its cold build is about as long as KASAN's there; x86_64's
# was not done after 25 minutes), the x86_64 and UML parts keep KASAN.
KCSAN_CONFIG = ('CONFIG_KASAN=n', 'CONFIG_KASAN_VMALLOC=n', 'CONFIG_EXPERT=y',
                'CONFIG_KCSAN=y')
CHECKPATCH_CLEAN = re.compile(r'^total: 0 errors, 0 warnings, 0 checks, ',
                              re.M)
# checkpatch.pl runs scripts/spdxcheck.py as `python3`, and takes its
# dying (no ply module, say) for a pass: that is no clean result.
CHECKPATCH_BROKE = re.compile(r'^Traceback \(most recent call last\):', re.M)
# What get_maintainer.pl must name for the series to reach the right
# people: the subsystem's list and its maintainers.
MAINTAINERS_NAMED = ('iommu@lists.linux.dev', '(maintainer:IOMMU SUBSYSTEM)')
# The fake driver and the suite as modules (module_run.py boots them).
MODULE_KUNITCONFIG = ''.join(f'{option}\n' for option in (
    'CONFIG_KUNIT=y', 'CONFIG_IOMMU_SUPPORT=y', 'CONFIG_FAKE_IOMMU=m',
    *module_run.KCONFIG))


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    out: Optional[TextIO] = None  # where record() writes

    def add(self, ok: bool, skipped: bool = False) -> None:
        kind = 'skipped' if skipped else 'passed' if ok else 'failed'
        setattr(self, kind, getattr(self, kind) + 1)

    def record(self, name: str, ok: bool) -> None:
        self.add(ok)
        self.out.write(f'{"PASS" if ok else "FAIL"} {name}\n')


def checkpatch_clean(code: int, text: str) -> bool:
    return (code == 0 and bool(CHECKPATCH_CLEAN.search(text))
            and not CHECKPATCH_BROKE.search(text))


def run_unit_tests(options: RunOptions, out: TextIO, tally: Tally) -> None:
    package = os.path.dirname(os.path.abspath(__file__))
    suite = unittest.TestLoader().discover(package, '*_test.py',
                                           os.path.dirname(package))
    result = unittest.TextTestRunner(stream=out, verbosity=1).run(suite)
    failed = (len(result.failures) + len(result.errors)
              + len(result.unexpectedSuccesses))
    tally.passed += result.testsRun - failed
    tally.failed += failed


def run_kunit_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    outcome = run_suite(options, out)
    if outcome.verdict is None or not outcome.verdict.tests:
        tally.add(False)  # the suite never produced results
    else:
        for test in outcome.verdict.tests:
            tally.add(test.passed, test.skipped)
            if not test.passed:
                out.write(f'FAIL {test.name}\n')
        # The run's own verdict: the log clean, no test left unfinished,
        # every suite reported, kunit.py content and not stopped.
        tally.add(outcome.exit_code == EXIT_OK)
    for line in outcome.details:
        out.write(f'  {line}\n')
    out.write(f'{outcome.summary}\n')


def run_race_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    """The race cases on UML with two CPUs; a skip, with the reason, where
    the tree's UML has no SMP (the QEMU parts still run them)."""
    if not uml_has_smp(resolve_tree(options, out)):
        out.write('skipped: the UML of this kernel has no SMP (v6.17+); '
                  "the QEMU parts run the race cases with '-smp 2'\n")
        tally.add(True, skipped=True)
        return
    run_kunit_part(options, out, tally)


def run_mutation_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    """Every mutant written for the tree, from one schemata build; on the
    newest tree a fixed sample is judged by patching too, and must get
    the same verdicts."""
    verify = VERIFY_SAMPLE if options.source == NEWEST_SOURCE else ()
    with sigterm_as_interrupt():
        campaign = run_campaign((), replace(options, timeout=GROUP_TIMEOUT_S),
                                out, verify=verify, boots=options.jobs)
    out.write('\n'.join(report_lines(campaign)) + '\n')
    for result in campaign.results:
        tally.add(result.ok)
    for name, switched, patched, _ in campaign.verified:
        tally.record(f'verify {name}: {switched} by switch, {patched} by '
                     'patching', switched == patched)


def run_bisect_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    code = selftest.run_selftest(
        selftest.SelftestOptions(
            options.cache_dir, options.repo_root, source=options.source), out)
    tally.add(code == EXIT_OK)


def _say(out: TextIO, text: str) -> None:
    out.write(f'series: {text}\n')
    out.flush()


def kunitconfig_at(tree: str, rev: str, final: str) -> str:
    """The final .kunitconfig (plus the fake driver), cut to the options
    that some Kconfig file of rev defines, so that every patch builds
    what it adds."""
    defined = set(re.findall(r'config (\w+)$', git_text(tree, (
        'grep', '-h', '-E', r'^\s*(menu)?config \w+$', rev, '--',
        '*Kconfig*')), re.M))
    lines = [*final.splitlines(), 'CONFIG_FAKE_IOMMU=y']
    return ''.join(f'{line}\n' for line in lines if line.startswith('CONFIG_')
                   and line.split('=')[0][len('CONFIG_'):] in defined)


def run_series_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    """The upstream series as a maintainer would receive it, checked end
    to end on a git repository of Debian's pristine 7.3 tarball, with
    nothing of this project between plain kunit.py and the kernel."""
    def kunit_py(name: str, subcommand: str, build_dir: str,
                 kunitconfig: Optional[str] = None,
                 products: Sequence[str] = ()) -> None:
        """Record name: plain kunit.py passes and leaves the products (in
        build_dir); without kunitconfig (a text), with the suite's
        .kunitconfig and debug fragment, as the README says."""
        configs = list(KUNITCONFIGS)
        if kunitconfig is not None:
            path = f'{build_dir}.kunitconfig'
            with open(path, 'w', encoding='utf-8') as f:
                f.write(kunitconfig)
            configs = [f'--kunitconfig={path}']
        make = make_options(options.use_ccache)
        argv = ['python3', 'tools/testing/kunit/kunit.py', subcommand,
                *configs, f'--build_dir={build_dir}',
                f'--jobs={options.jobs}',
                *(f'--make_options={m}' for m in make)]
        _say(out, ' '.join(argv))
        started = time.monotonic()
        code, _ = selftest.tee(argv, tree, out,
                               env=ccache_env(None, bool(make)))
        missing = [rel for rel in products
                   if not os.path.exists(os.path.join(build_dir, rel))]
        _say(out, f'{name}: kunit.py {subcommand} exit {code} in '
             f'{time.monotonic() - started:.0f} s; of {len(products)} '
             f'expected files missing: {missing}')
        tally.record(name, code == 0 and not missing)

    # A fixed place rather than a fresh temporary name, so that the
    # compiler sees the same paths on every run and ccache can hit.
    work = os.path.join(options.cache_dir, 'series-check')
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        started = time.monotonic()
        # git for the series; python3-ply and python3-git for
        # checkpatch.pl's SPDX check (scripts/spdxcheck.py imports both).
        tarball = kernel_sources.source_tree(
            options.cache_dir, options.source, out,
            (*kernel_sources.REQUIRED_PACKAGES, 'git', 'python3-ply',
             'python3-git', module_run.BUSYBOX_PACKAGE),
            tarball_into=os.path.join(work, 'deb'))
        tree = selftest.extract(tarball, os.path.join(work, 'src'))
        shutil.rmtree(os.path.join(work, 'deb'), ignore_errors=True)
        base = selftest.init_repo(tree)
        git_text(tree, ('config', 'user.name', 'sva-kunit check'))
        git_text(tree, ('config', 'user.email', 'check@sva-kunit.invalid'))
        _say(out, f'{tree}: pristine Linux {options.source} as one commit '
             f'in {time.monotonic() - started:.0f} s')

        # A SetupError here is the part's one failure.
        patches = series.write_series(
            tree, options.repo_root, os.path.join(work, 'series'))[1:]
        tally.record(f'format-patch writes the series ({len(patches)} '
                     'patches and a cover letter)', True)

        git_text(tree, ('checkout', '-q', '-b', 'series-check'))
        code, _ = selftest.tee(
            ['git', 'am', '-q', '--whitespace=error', *patches], tree, out)
        tally.record('git am applies the series to a clean branch',
                     code == 0)
        if code != 0:
            return
        # Debian's python3, which python3-ply is for, not one a user put
        # first in PATH (pyenv, say).
        system_python = dict(os.environ, PATH='/usr/bin:'
                             + os.environ.get('PATH', os.defpath))
        for patch in patches:
            code, text = selftest.tee(
                ['perl', 'scripts/checkpatch.pl', '--strict', patch], tree,
                out, system_python)
            tally.record(f'checkpatch.pl --strict {os.path.basename(patch)}',
                         checkpatch_clean(code, text))

        code, text = selftest.tee(
            ['perl', 'scripts/get_maintainer.pl', '--no-git',
             '--no-git-fallback', *patches], tree, out)
        tally.record('get_maintainer.pl names the iommu list and '
                     'maintainers', code == 0 and all(
                         name in text for name in MAINTAINERS_NAMED))

        # Every patch must build, each C file it adds compiled.
        build_dir = os.path.join(work, 'build')
        final = ''.join(series.read_file(options.repo_root, path) for path in
                        (series.KUNITCONFIG, series.CONFIG_FRAGMENT))
        started = time.monotonic()
        for number, sha in enumerate(git_text(tree, (
                'rev-list', '--reverse', f'{base}..HEAD')).split(), 1):
            git_text(tree, ('checkout', '-q', sha))
            subject, *changed = git_text(tree, (
                'show', '--format=%s', '--name-status', sha)).splitlines()
            kunit_py(f'builds after patch {number} ({subject})', 'build',
                     build_dir, kunitconfig_at(tree, sha, final),
                     [line[2:-2] + '.o' for line in changed
                      if line.startswith('A\t') and line.endswith('.c')])
        _say(out, f'every patch built in {time.monotonic() - started:.0f} s')

        # modpost refuses any symbol a module uses that is not exported.
        module_dir = os.path.join(work, 'build-module')
        kunit_py('the fake driver and the suite build as modules (modpost)',
                 'build', module_dir, MODULE_KUNITCONFIG,
                 list(module_run.MODULES))
        started = time.monotonic()
        loaded = module_run.run_modules(module_dir, work)
        for line in loaded.details:
            _say(out, f'modules: {line}')
        _say(out, f'modules: booted in {time.monotonic() - started:.0f} s')
        if not loaded.passed:
            with open(os.path.join(work, 'modules.log'), 'w',
                      encoding='utf-8') as f:
                f.write(loaded.log)
            out.write(loaded.log[-4000:])
        tally.record('the suite loads as modules and passes (UML, '
                     'busybox insmod)', loaded.passed)
        # The last patch is checked out: the whole series.
        kunit_py('plain kunit.py run on the series passes', 'run', build_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def handle(args: argparse.Namespace, out: TextIO) -> int:
    if not args.skip_kunit:
        check_options(RunOptions(cache_dir=args.cache_dir))  # builds there
    tally = Tally(out=out)
    sources = args.source or list(CHECKED_SOURCES)
    on = {source: RunOptions(cache_dir=args.cache_dir,
                             repo_root=args.repo_root, source=source)
          for source in sources}
    first = on[sources[0]]

    def checkpatch_part(options: RunOptions, out: TextIO,
                        tally: Tally) -> None:
        # The suite's parts need the whole tree anyway; checkpatch alone
        # needs only a few files of it.
        tree = (checkpatch.checkpatch_tree(args.cache_dir, options.source,
                                           out) if args.skip_kunit
                else resolve_tree(options, out))
        files = checkpatch.c_sources(args.repo_root)
        if not files:
            out.write('no .c/.h files found\n')
        for path in files:
            result = checkpatch.run_checkpatch(tree, args.repo_root, path)
            tally.record(path, result.passed)
            if not result.passed:
                out.write(''.join(f'    {line}\n'
                                  for line in result.output.splitlines()))
    parts = [('unit tests (scripts/sva_kunit)', run_unit_tests, first),
             (f'checkpatch.pl --strict, Linux {first.source}',
              checkpatch_part, first)]
    newest = [on[NEWEST_SOURCE]] if NEWEST_SOURCE in on else []
    # Two CPUs (--smp), so that the race cases run: on one they skip.
    qemu = [(f'KUnit suite on {arch} under QEMU ({QEMU_SMP_ARGS}{how})',
             run_kunit_part,
             [replace(o, arch=arch, smp=True,
                      kconfig_add=(*o.kconfig_add, *kconfig)) for o in newest],
             getattr(args, f'skip_{arch}'))
            for arch, how, kconfig in (('arm64', ', KCSAN', KCSAN_CONFIG),
                                       ('x86_64', '', ()))]
    races = [replace(o, smp=True, filter_glob=RACE_FILTER) for o in newest]
    for name, run, runs_on, skip in (
            ('KUnit suite on UML', run_kunit_part, on.values(), False),
            ('KUnit race cases on UML with two CPUs (--smp)', run_race_part,
             races, False), *qemu,
            ('upstream series (format-patch, git am, checkpatch, '
             'get_maintainer, a build per patch, a module build, plain '
             'kunit.py)', run_series_part, newest, args.skip_series),
            ('mutation testing (mutants/)', run_mutation_part, on.values(),
             args.skip_mutants),
            ('git bisect run self-test', run_bisect_part,
             [on.get(BISECT_SOURCE, first)], args.skip_bisect)):
        parts += [(f'{name}, Linux {options.source}', run, options)
                  for options in runs_on if not (args.skip_kunit or skip)]
    for title, run, options in parts:
        out.write(f'\n=== {title} ===\n')
        out.flush()
        started = time.monotonic()
        try:
            run(options, out, tally)
        except (SetupError, GitError) as e:
            # A setup problem counts as one failed test in its part.
            out.write(ERROR_PREFIX + ' '.join(str(e).split('\n')) + '\n')
            tally.add(False)
        out.write(f'({title}: {time.monotonic() - started:.0f} s)\n')
    skipped = f', {tally.skipped} skipped' if tally.skipped else ''
    out.write(f'\n{tally.passed} passed, {tally.failed} failed{skipped}\n')
    return EXIT_OK if tally.failed == 0 else EXIT_FAILED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cache_dir(parser)
    parser.add_argument('--source', type=kernel_sources.source_version,
                        action='append', default=[], metavar='VERSION',
                        help='check only this Debian kernel tree (repeatable;'
                        ' default: ' + ' and '.join(CHECKED_SOURCES) + ')')
    for part, what in (('kunit', 'all but the unit tests and checkpatch'),
                       ('arm64', 'the suite on arm64 under QEMU'),
                       ('x86_64', 'the suite on x86_64 under QEMU'),
                       ('series', 'the upstream series check'),
                       ('mutants', 'the mutation catalogue'),
                       ('bisect', 'the git bisect self-test')):
        parser.add_argument(f'--skip-{part}', action='store_true',
                            help=f'leave out {what}')


CHECK = Subcommand('check', "the project's test command: unit tests, "
                   'checkpatch, the KUnit suite, the upstream series, the '
                   'mutation catalogue and the bisect self-test; last line '
                   '"N passed, N failed"', add_arguments, handle)

