"""`sva-kunit mutate`: does the suite catch the bugs in the catalogue?

On one tree it runs the unmutated suite once (it must pass), then for
each mutant in mutants/: puts it into the kernel source, runs the suite
through the same code path as `run` (an incremental build in the same
build dir), judges the run, and restores the file's exact bytes and mode
-- also after Ctrl-C or SIGTERM, and, through the journal in
mutation_journal.py, at the next command after a crash or SIGKILL.

Each mutant's kunit.py output goes to BUILD_DIR/mutants/<name>.log (and
its kernel log to <name>.test.log) so the terminal shows one progress
line per mutant.
"""

import argparse
import os
import shutil
import time
from dataclasses import replace
from typing import (Callable, ContextManager, List, Optional, Sequence,
                    TextIO, Tuple)

from . import locks
from .cmd_run import hold_locks
from .command import (Subcommand, add_build_options, add_cache_dir, add_kernel,
                      sigterm_handled)
from .errors import EXIT_OK, SetupError
from .mutation import mutation_journal
from .mutation.mutant_outcome import (MutantResult, classify, exit_code,
                                      no_apply)
from .mutation.mutant_report import (list_lines, markdown, progress_line,
                                     summary_line, table, to_json)
from .mutation.mutants import Mutant, NoApply, fitting, load_catalogue, select
from .run.kunit_runner import test_log_path
from .run.suite_run import (RunOptions, RunOutcome, default_build_dir,
                            resolve_tree, run_suite, sync_payload)

DEFAULT_TIMEOUT_S = 120
# The baseline may be a tree's first (cold) build, far slower than a
# mutant's incremental one; its limit is only there so that kunit.py runs
# in its own process group, which Ctrl-C and SIGTERM then stop as a whole.
BASELINE_TIMEOUT_S = 3 * 3600
LOG_DIR = 'mutants'

Runner = Callable[..., RunOutcome]  # run_suite's signature


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number'
                                         ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f'{text!r} must be more than 0')
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_kernel(parser, required=False)
    add_cache_dir(parser)
    parser.add_argument('--build-dir', metavar='DIR',
                        help='kunit.py build directory (default: one per '
                        'tree under the cache dir)')
    parser.add_argument('--only', metavar='NAME', action='append',
                        default=[], help='run only this mutant (repeatable; '
                        'names as in --list)')
    parser.add_argument('--list', action='store_true',
                        help='list the mutants written for --source (every '
                        'variant, with --kernel) and exit; needs no tree')
    parser.add_argument('--timeout', type=positive_seconds,
                        default=DEFAULT_TIMEOUT_S, metavar='SECONDS',
                        help='wall-clock limit per mutant, build included; '
                        'a kernel still running then is killed, and the '
                        'mutant counts as killed only with evidence in the '
                        'log (default: %(default)s)')
    parser.add_argument('--json', metavar='FILE',
                        help='also write the results to FILE as JSON')
    parser.add_argument('--filter', default='', metavar='GLOB',
                        help='run only the matching tests against each '
                        "mutant, e.g. 'iommu_sva_model*' (kunit.py's "
                        'filter_glob)')
    parser.add_argument('--markdown', action='store_true',
                        help='also print the table as GitHub markdown')
    add_build_options(parser)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def sigterm_as_interrupt() -> ContextManager[None]:
    """SIGTERM unwinds like Ctrl-C, so `finally` restores the tree."""
    return sigterm_handled(_raise_interrupt)


def _keep_test_log(build_dir: str, dest: str, since: float) -> None:
    """Save the mutant's kernel log before the next mutant overwrites it."""
    src = test_log_path(build_dir)
    try:
        if os.stat(src).st_mtime >= since - 1:
            shutil.copyfile(src, dest)
    except OSError:
        pass


def run_mutant(tree: str, mutant: Mutant, options: RunOptions,
               log_dir: str, runner: Runner) -> MutantResult:
    """Apply, run, judge, restore; the tree is restored however this ends
    (an exception included), or the journal says how to."""
    start = time.monotonic()
    try:
        record = mutation_journal.apply(tree, mutant)
    except NoApply as e:
        return no_apply(mutant, str(e))
    log_path = os.path.join(log_dir, f'{mutant.name}.log')
    started = time.time()
    try:
        with open(log_path, 'w', encoding='utf-8',
                  errors='backslashreplace') as log:
            outcome = runner(options, log, tree=tree)
    finally:
        mutation_journal.restore(tree, record)
    _keep_test_log(outcome.build_dir,
                   os.path.join(log_dir, f'{mutant.name}.test.log'), started)
    result = classify(mutant, outcome)
    result.seconds = time.monotonic() - start
    result.log = log_path
    return result


def run_baseline(options: RunOptions, tree: str, out: TextIO,
                 runner: Runner) -> RunOutcome:
    out.write('sva-kunit: baseline: the unmutated suite\n')
    out.flush()
    limit = max(BASELINE_TIMEOUT_S, options.timeout or 0)
    baseline = runner(replace(options, timeout=limit), out, tree=tree)
    if baseline.exit_code != EXIT_OK:
        for line in baseline.details:
            out.write(f'sva-kunit:   {line}\n')
        raise SetupError(f'the unmutated suite does not pass ('
                         f'{baseline.summary})', 'make `sva-kunit run` pass '
                         'first: a mutant can only be judged against a green '
                         'baseline')
    out.write(f'sva-kunit: baseline: {baseline.summary} in '
              f'{baseline.elapsed:.0f} s\n')
    return baseline


def catalogue_for(options: RunOptions, tree: str) -> List[Mutant]:
    """The mutants for this tree: those written for the --source tree,
    or, for a tree of the user's, the variant of each that fits it."""
    catalogue = load_catalogue(options.repo_root)
    if options.kernel is None and any(options.source in m.trees
                                      for m in catalogue):
        return [m for m in catalogue if options.source in m.trees]

    def read(path: str) -> bytes:
        with open(os.path.join(tree, path), 'rb') as f:
            return f.read()
    return fitting(catalogue, read)


def mutate_all(only: Sequence[str], options: RunOptions, out: TextIO,
               runner: Optional[Runner] = None
               ) -> Tuple[str, float, List[MutantResult]]:
    """Prepare the tree, run the baseline and every mutant for it (or
    those named in `only`).

    Returns (tree, baseline seconds, results).
    """
    runner = runner or run_suite
    tree = resolve_tree(options, out)  # also repairs an earlier crash
    locks.hold_tree(tree, options.cache_dir, out)
    options.build_dir = locks.hold_build_dir(
        options.build_dir or default_build_dir(options, tree), out)
    selected = select(catalogue_for(options, tree), only)
    sync_payload(tree, options.repo_root, out)
    baseline = run_baseline(options, tree, out, runner)
    log_dir = os.path.join(baseline.build_dir, LOG_DIR)
    os.makedirs(log_dir, exist_ok=True)
    results: List[MutantResult] = []
    for index, mutant in enumerate(selected, start=1):
        out.write(f'sva-kunit: [{index}/{len(selected)}] {mutant.name} '
                  f'({",".join(mutant.invariants)}): {mutant.file}; log '
                  f'{os.path.join(log_dir, mutant.name)}.log\n')
        out.flush()
        result = run_mutant(tree, mutant, options, log_dir, runner)
        results.append(result)
        out.write(progress_line(index, len(selected), result) + '\n')
        out.flush()
    return tree, baseline.elapsed, results


def report(results: List[MutantResult], baseline_s: float, tree: str,
           out: TextIO, use_markdown: bool, json_path: Optional[str]) -> None:
    out.write('\n' + '\n'.join(table(results)) + '\n')
    if use_markdown:
        out.write('\n' + '\n'.join(markdown(results)) + '\n')
    out.write('\n' + summary_line(results, baseline_s) + '\n')
    if json_path:
        with open(json_path, 'w', encoding='utf-8') as f:
            f.write(to_json(results, baseline_s, tree))


def handle(args: argparse.Namespace, out: TextIO) -> int:
    catalogue = load_catalogue(args.repo_root,
                               '' if args.kernel else args.source)
    selected = select(catalogue, args.only)
    if args.list:
        for line in list_lines(selected):
            out.write(line + '\n')
        return EXIT_OK
    if args.json and not os.path.isdir(os.path.dirname(
            os.path.abspath(args.json))):
        raise SetupError(f'--json={args.json}: its directory does not '
                         'exist', 'create it or pick another file')
    options = RunOptions(cache_dir=args.cache_dir, kernel=args.kernel,
                         source=args.source,
                         build_dir=args.build_dir, jobs=args.jobs,
                         filter_glob=args.filter,
                         use_ccache=args.use_ccache,
                         repo_root=args.repo_root, timeout=args.timeout)
    hold_locks(options, out)
    with sigterm_as_interrupt():
        tree, baseline_s, results = mutate_all(args.only, options, out)
    report(results, baseline_s, tree, out, args.markdown, args.json)
    return exit_code(results)


MUTATE = Subcommand('mutate', 'put each catalogued bug into the kernel in '
                    'turn and check the suite catches it; exit 0 all '
                    'killed (or known survivors), 1 not, 2 setup error',
                    add_arguments, handle)
