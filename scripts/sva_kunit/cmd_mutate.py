"""`sva-kunit mutate`: after a green baseline, put each mutant into the
tree, run the suite as `run` does, judge, restore (also after Ctrl-C,
SIGTERM or, by the journal, a crash)."""

import argparse
import contextlib
import os
import shutil
import time
from dataclasses import replace
from typing import List, Sequence, TextIO, Tuple

from .command import (Subcommand, add_build_options, add_cache_dir, add_kernel,
                      directory, glob_filter, output_file, seconds)
from .errors import EXIT_OK, SetupError
from .locks import sigterm_as_interrupt
from .mutation import mutation_journal
from .mutation.mutant_report import (NO_APPLY, MutantResult, classify,
                                     exit_code, list_lines, progress_line,
                                     summary_line, table, to_json)
from .mutation.mutants import Mutant, NoApply, fitting, load_catalogue, select
from .run.kunit_runner import test_log_path
from .run.suite_run import (GROUP_TIMEOUT_S, RunOptions, check_options,
                            hold_locks, resolve_tree, run_suite,
                            sync_payload)

DEFAULT_TIMEOUT_S = 120


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_kernel(parser, required=False)
    add_cache_dir(parser)
    parser.add_argument('--build-dir', metavar='DIR', type=directory,
                        help='kunit.py build directory (default: one per '
                        'tree under the cache dir)')
    parser.add_argument('--only', metavar='NAME', action='append',
                        default=[], help='run only this mutant (repeatable; '
                        'names as in --list)')
    parser.add_argument('--list', action='store_true',
                        help='list the mutants written for --source (every '
                        'variant, with --kernel) and exit; needs no tree')
    parser.add_argument('--timeout', type=seconds,
                        default=DEFAULT_TIMEOUT_S, metavar='SECONDS',
                        help='wall-clock limit per mutant, build included; '
                        'a kernel still running then is killed, and the '
                        'mutant counts as killed only with evidence in the '
                        'log (default: %(default)s)')
    parser.add_argument('--json', metavar='FILE', type=output_file,
                        help='also write the results to FILE as JSON')
    parser.add_argument('--filter', default='', metavar='GLOB',
                        type=glob_filter, help='run only the matching '
                        "tests against each mutant, e.g. 'iommu_sva_model*' "
                        "(kunit.py's filter_glob)")
    add_build_options(parser)


def run_mutant(tree: str, mutant: Mutant, options: RunOptions,
               log_dir: str) -> MutantResult:
    """Apply, run, judge; restored however this ends, or by the journal."""
    start = time.monotonic()
    try:
        record = mutation_journal.apply(tree, mutant)
    except NoApply as e:
        return MutantResult(mutant, NO_APPLY, note=str(e))
    log_path = os.path.join(log_dir, f'{mutant.name}.log')
    try:
        with open(log_path, 'w', encoding='utf-8',
                  errors='backslashreplace') as log:
            outcome = run_suite(options, log, tree=tree)
    finally:
        mutation_journal.restore(tree, record)
    # Keep the mutant's kernel log before the next mutant overwrites it
    # (run_suite removed the one of the run before).
    with contextlib.suppress(OSError):
        shutil.copyfile(test_log_path(outcome.build_dir),
                        log_path[:-4] + '.test.log')
    return replace(classify(mutant, outcome), log=log_path,
                   seconds=time.monotonic() - start)


def mutate_all(only: Sequence[str], options: RunOptions, out: TextIO
               ) -> Tuple[str, float, List[MutantResult]]:
    """Prepare the tree, run the baseline and every mutant for it (or
    those named in `only`); (tree, baseline seconds, results)."""
    # resolve_tree locks the tree and repairs an earlier crash; run_suite
    # locks the build dir.
    tree = resolve_tree(options, out)
    # The mutants written for the --source tree; for a tree of the user's
    # (or one that none is written for), the variant of each that fits.
    written = [] if options.kernel else load_catalogue(options.repo_root,
                                                       options.source)
    selected = select(written or fitting(load_catalogue(options.repo_root),
                                         tree), only)
    sync_payload(tree, options.repo_root, out)
    out.write('sva-kunit: baseline: the unmutated suite\n')
    out.flush()
    baseline = run_suite(replace(options, timeout=max(
        GROUP_TIMEOUT_S, options.timeout or 0)), out, tree=tree)
    if baseline.exit_code != EXIT_OK:
        for line in baseline.details:
            out.write(f'sva-kunit:   {line}\n')
        raise SetupError(f'the unmutated suite does not pass ('
                         f'{baseline.summary})', 'make `sva-kunit run` pass '
                         'first: a mutant can only be judged against a green '
                         'baseline')
    out.write(f'sva-kunit: baseline: {baseline.summary} in '
              f'{baseline.elapsed:.0f} s\n')
    log_dir = os.path.join(baseline.build_dir, 'mutants')
    os.makedirs(log_dir, exist_ok=True)
    results: List[MutantResult] = []
    for index, mutant in enumerate(selected, start=1):
        out.write(f'sva-kunit: [{index}/{len(selected)}] {mutant.name} '
                  f'({",".join(mutant.invariants)}): {mutant.file}; log '
                  f'{os.path.join(log_dir, mutant.name)}.log\n')
        out.flush()
        results.append(run_mutant(tree, mutant, options, log_dir))
        out.write(progress_line(index, len(selected), results[-1]) + '\n')
        out.flush()
    return tree, baseline.elapsed, results


def handle(args: argparse.Namespace, out: TextIO) -> int:
    selected = select(load_catalogue(args.repo_root, '' if args.kernel
                                     else args.source), args.only)
    if args.list:
        out.write(''.join(line + '\n' for line in list_lines(selected)))
        return EXIT_OK
    options = RunOptions(cache_dir=args.cache_dir, kernel=args.kernel,
                         source=args.source, build_dir=args.build_dir,
                         jobs=args.jobs, filter_glob=args.filter,
                         use_ccache=args.use_ccache,
                         repo_root=args.repo_root, timeout=args.timeout)
    check_options(options)
    hold_locks(options, out)
    with sigterm_as_interrupt():
        tree, baseline_s, results = mutate_all(args.only, options, out)
    out.write('\n' + '\n'.join(table(results)) + '\n')
    out.write('\n' + summary_line(results, baseline_s) + '\n')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            f.write(to_json(results, baseline_s, tree))
    return exit_code(results)


MUTATE = Subcommand('mutate', 'put each catalogued bug into the kernel in '
                    'turn and check the suite catches it; exit 0 all '
                    'killed (or known survivors), 1 not, 2 setup error',
                    add_arguments, handle)
