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
from typing import Optional, TextIO, Tuple

from . import cmd_bisect_selftest, cmd_format_patch, cmd_mutate
from .bisect.git_tree import GitError, git, git_text
from .command import Subcommand, add_cache_dir
from .errors import EXIT_FAILED, EXIT_OK, SetupError
from .mutation import mutant_report
from .run.suite_run import (RunOptions, ccache_env, make_options,
                            resolve_tree, run_suite, sync_payload)
from .tree import checkpatch, kernel_sources

# Every Debian tree the suite supports runs on UML and through the
# mutation catalogue; the newest also under QEMU, and the upstream series
# is checked on it; the bisect self-test runs once, on the tree that
# builds fastest.
CHECKED_SOURCES = ('7.3', '6.12')
NEWEST_SOURCE = '7.3'
BISECT_SOURCE = '6.12'
# Two CPUs, so that the race case's threads run in parallel under QEMU
# (on UML they only interleave).
QEMU_SMP = '-smp 2'
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
SERIES_BRANCH = 'series-check'
CHECKPATCH_CLEAN = re.compile(r'^total: 0 errors, 0 warnings, 0 checks, ',
                              re.M)
# What get_maintainer.pl must name for the series to reach the right
# people: the subsystem's list and its maintainers.
MAINTAINERS_NAMED = ('iommu@lists.linux.dev', '(maintainer:IOMMU SUBSYSTEM)')
MODULE_KUNITCONFIG = ('CONFIG_KUNIT=y\nCONFIG_MODULES=y\n'
                      'CONFIG_IOMMU_SUPPORT=y\nCONFIG_FAKE_IOMMU=m\n')
FAKE_IOMMU_KO = 'drivers/iommu/fake-iommu/fake-iommu.ko'


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, ok: bool, skipped: bool = False) -> None:
        kind = 'skipped' if skipped else 'passed' if ok else 'failed'
        setattr(self, kind, getattr(self, kind) + 1)

    def record(self, out: TextIO, name: str, ok: bool) -> None:
        self.add(ok)
        out.write(f'{"PASS" if ok else "FAIL"} {name}\n')

    def closing_line(self) -> str:
        line = f'{self.passed} passed, {self.failed} failed'
        return line + (f', {self.skipped} skipped' if self.skipped else '')


def run_unit_tests(out: TextIO, tally: Tally) -> None:
    suite = unittest.TestLoader().discover(
        start_dir=PACKAGE_DIR, pattern='*_test.py',
        top_level_dir=os.path.dirname(PACKAGE_DIR))
    result = unittest.TextTestRunner(stream=out, verbosity=1).run(suite)
    failed = (len(result.failures) + len(result.errors)
              + len(result.unexpectedSuccesses))
    tally.passed += result.testsRun - failed
    tally.failed += failed


def run_kunit_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    # Also installs the cross compiler and QEMU when they are missing.
    tree = resolve_tree(options, out)
    sync_payload(tree, options.repo_root, out)
    outcome = run_suite(options, out, tree=tree)
    if outcome.verdict is None or not outcome.verdict.tests:
        tally.add(False)  # the suite never produced results
    else:
        for test in outcome.verdict.tests:
            tally.add(test.passed, test.skipped)
            if not test.passed:
                out.write(f'FAIL {test.name}\n')
        tally.add(outcome.verdict.log_clean)
    for line in outcome.details:
        out.write(f'  {line}\n')
    out.write(f'{outcome.summary}\n')


def run_mutation_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    # A deadlocking mutant must not hang the check: the time limit stops
    # it, and the log's evidence decides whether it was killed.
    options = replace(options, timeout=cmd_mutate.DEFAULT_TIMEOUT_S)
    with cmd_mutate.sigterm_as_interrupt():
        _, baseline_s, results = cmd_mutate.mutate_all((), options, out)
    for line in mutant_report.table(results):
        out.write(line + '\n')
    out.write(mutant_report.summary_line(results, baseline_s) + '\n')
    for result in results:
        tally.add(result.ok)


def run_bisect_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    code = cmd_bisect_selftest.run_selftest(
        cmd_bisect_selftest.SelftestOptions(cache_dir=options.cache_dir,
                                            repo_root=options.repo_root,
                                            source=options.source), out)
    tally.add(code == EXIT_OK)


def _say(out: TextIO, text: str) -> None:
    out.write(f'series: {text}\n')
    out.flush()


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


def run_series_part(options: RunOptions, out: TextIO, tally: Tally) -> None:
    """The upstream series as a maintainer would receive it, checked end
    to end on a git repository of Debian's pristine 7.3 tarball, with
    nothing of this project between plain kunit.py and the kernel."""
    # A fixed place rather than a fresh temporary name, so that the
    # compiler sees the same paths on every run and ccache can hit.
    work = os.path.join(options.cache_dir, 'series-check')
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        _check_series_in(work, options, out, tally)
    except GitError as e:
        _say(out, f'FAIL: {e}')
        tally.record(out, 'series check (git)', False)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_series_in(work: str, options: RunOptions, out: TextIO,
                     tally: Tally) -> None:
    def record(name: str, ok: bool) -> None:
        tally.record(out, name, ok)

    started = time.monotonic()
    tarball = kernel_sources.source_tree(
        options.cache_dir, NEWEST_SOURCE, out,
        tarball_into=os.path.join(work, 'deb'))
    tree = cmd_bisect_selftest.extract(tarball, os.path.join(work, 'src'))
    shutil.rmtree(os.path.join(work, 'deb'), ignore_errors=True)
    base = cmd_bisect_selftest.init_repo(tree)
    git_text(tree, ('config', 'user.name', 'sva-kunit check'))
    git_text(tree, ('config', 'user.email', 'check@sva-kunit.invalid'))
    _say(out, f'{tree}: pristine Linux {NEWEST_SOURCE} as one commit in '
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

    git_text(tree, ('checkout', '-q', '-b', SERIES_BRANCH))
    code, _ = cmd_bisect_selftest.tee(
        ['git', 'am', '-q', '--whitespace=error', *patches], tree, out)
    record('git am applies the series to a clean branch', code == 0)
    if code != 0:
        return
    for patch in patches:
        code, text = cmd_bisect_selftest.tee(
            ['perl', 'scripts/checkpatch.pl', '--strict', patch], tree, out)
        record(f'checkpatch.pl --strict {os.path.basename(patch)}',
               code == 0 and bool(CHECKPATCH_CLEAN.search(text)))

    code, text = cmd_bisect_selftest.tee(
        ['perl', 'scripts/get_maintainer.pl', '--no-git',
         '--no-git-fallback', *patches], tree, out)
    record('get_maintainer.pl names the iommu list and maintainers',
           code == 0 and all(name in text for name in MAINTAINERS_NAMED))

    def kunit_py(subcommand: str, build_dir: str,
                 kunitconfig: Optional[str] = None) -> Tuple[int, str]:
        """kunit.py's exit code, and how long it ran, as text; without
        kunitconfig (the file's text), the tree's drivers/iommu."""
        path = 'drivers/iommu'
        if kunitconfig is not None:
            path = f'{build_dir}.kunitconfig'
            with open(path, 'w', encoding='utf-8') as f:
                f.write(kunitconfig)
        make = make_options(options.use_ccache)
        argv = ['python3', 'tools/testing/kunit/kunit.py', subcommand,
                f'--kunitconfig={path}', f'--build_dir={build_dir}',
                f'--jobs={options.jobs}',
                *(f'--make_options={m}' for m in make)]
        _say(out, ' '.join(argv))
        started = time.monotonic()
        code, _ = cmd_bisect_selftest.tee(argv, tree, out,
                                          env=ccache_env(None, bool(make)))
        return code, f'in {time.monotonic() - started:.0f} s'

    # Every patch must build, each C file it adds compiled.
    build_dir = os.path.join(work, 'build')
    final = cmd_format_patch.read_repo_file(options.repo_root,
                                           cmd_format_patch.KUNITCONFIG)
    started = time.monotonic()
    commits = git_text(tree, ('log', '--reverse', '--format=%H %s',
                              f'{base}..{SERIES_BRANCH}'))
    for number, commit in enumerate(commits.splitlines(), 1):
        sha, subject = commit.split(' ', 1)
        git_text(tree, ('checkout', '-q', sha))
        code, took = kunit_py('build', build_dir,
                              kunitconfig_at(tree, sha, final))
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
    git_text(tree, ('checkout', '-q', SERIES_BRANCH))
    _say(out, f'every patch built in {time.monotonic() - started:.0f} s')

    # modpost refuses any symbol the module uses that is not exported.
    module_dir = os.path.join(work, 'build-module')
    code, took = kunit_py('build', module_dir, MODULE_KUNITCONFIG)
    built = os.path.exists(os.path.join(module_dir, FAKE_IOMMU_KO))
    _say(out, f'fake driver as a module: kunit.py build exit {code}, '
         f'{FAKE_IOMMU_KO} {"built" if built else "missing"} {took}')
    record('the fake driver builds as a module (modpost)',
           code == 0 and built)

    code, took = kunit_py('run', build_dir)
    _say(out, f'plain kunit.py run --kunitconfig=drivers/iommu: exit {code} '
         f'{took}')
    record('plain kunit.py run on the series passes', code == 0)


def handle(args: argparse.Namespace, out: TextIO) -> int:
    tally = Tally()
    out.write('\n=== unit tests (scripts/sva_kunit) ===\n')
    run_unit_tests(out, tally)

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
            tally.record(out, path, result.passed)
            if not result.passed:
                out.write(''.join(f'    {line}\n'
                                  for line in result.output.splitlines()))
    parts = [(f'checkpatch.pl --strict (Linux {first.source})',
              checkpatch_part, first)]
    if not args.skip_kunit:
        parts += [(f'KUnit suite on UML, Linux {source}', run_kunit_part,
                   on[source]) for source in sources]
        parts += [(f'KUnit suite on {arch} under QEMU ({QEMU_SMP}), Linux '
                   f'{NEWEST_SOURCE}', run_kunit_part, replace(
                       on[NEWEST_SOURCE], arch=arch, qemu_args=[QEMU_SMP]))
                  for arch in ('arm64', 'x86_64')
                  if not getattr(args, f'skip_{arch}') and NEWEST_SOURCE in on]
        if not args.skip_series and NEWEST_SOURCE in on:
            parts.append((
                'upstream series: format-patch, git am, checkpatch, '
                'get_maintainer, a build per patch, a module build, plain '
                f'kunit.py (Linux {NEWEST_SOURCE})', run_series_part,
                on[NEWEST_SOURCE]))
        if not args.skip_mutants:
            parts += [(f'mutation testing (mutants/), Linux {source}',
                       run_mutation_part, on[source]) for source in sources]
        if not args.skip_bisect:
            bisect_on = on.get(BISECT_SOURCE, first)
            parts.append((f'git bisect run self-test, Linux '
                          f'{bisect_on.source}', run_bisect_part, bisect_on))
    for title, run, options in parts:
        out.write(f'\n=== {title} ===\n')
        out.flush()
        started = time.monotonic()
        try:
            run(options, out, tally)
        except SetupError as e:
            # A setup problem counts as one failed test in its part.
            out.write(e.one_line() + '\n')
            tally.add(False)
        out.write(f'({title}: {time.monotonic() - started:.0f} s)\n')
    out.write(f'\n{tally.closing_line()}\n')
    return EXIT_OK if tally.failed == 0 else EXIT_FAILED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cache_dir(parser)
    parser.add_argument('--skip-kunit', action='store_true',
                        help='only the unit tests and checkpatch')
    parser.add_argument('--source', type=kernel_sources.source_version,
                        action='append', default=[], metavar='VERSION',
                        help='check only this Debian kernel tree (repeatable;'
                        ' default: ' + ' and '.join(CHECKED_SOURCES) + ')')
    for part, what in (('arm64', 'the suite on arm64 under QEMU'),
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

