"""`sva-kunit bench`: time `run` against plain `kunit.py run` (what users
type, with the harness's cross compiler, QEMU arguments and TCG-only QEMU)
on one tree, in fresh build dirs, one step after another (two cores)."""

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import replace
from typing import List, TextIO

from . import locks
from .columns import align
from .errors import SetupError
from .locks import sigterm_as_interrupt
from .command import Subcommand, add_run_arguments, options_from, output_file
from .errors import EXIT_FAILED, EXIT_OK
from .run.kunit_runner import RUN, run_kunit
from .mutation.campaign import run_campaign
from .run.suite_run import (GROUP_TIMEOUT_S, RunOptions, check_options,
                            kunit_argv, resolve_tree, run_suite, sync_payload,
                            tcg_env)

TOUCHED_FILE = 'drivers/iommu/iommu-sva.c'
COLD, RERUN, TOUCHED = 'cold build+run', 're-run, nothing changed', \
    f're-run after touch {TOUCHED_FILE}'
FRESH = 'new build dir, same tree (ccache warm)'
TARGETS = {COLD: 1.10, RERUN: 1.05, TOUCHED: 1.05, FRESH: 1.00}


def step(name: str, sva_kunit_s: float, sva_kunit_ok: bool, plain_s: float,
         plain_ok: bool) -> dict:  # as the JSON gives it
    ratio = sva_kunit_s / plain_s if plain_s else 0.0
    return dict(name=name, sva_kunit_s=sva_kunit_s, sva_kunit_ok=sva_kunit_ok,
                plain_s=plain_s, plain_ok=plain_ok, ratio=ratio,
                target=TARGETS[name], met=sva_kunit_ok and plain_ok
                and ratio <= TARGETS[name])


def format_table(steps: List[dict]) -> List[str]:
    return align([('step', 'sva-kunit', 'plain', 'ratio', 'target', 'met')]
                 + [(s['name'], *(f'{s[side + "_s"]:.1f}s' + (
                     '' if s[side + '_ok'] else ' (failed)')
                     for side in ('sva_kunit', 'plain')),
                     f'{s["ratio"]:.3f}', f'<={s["target"]:.2f}',
                     'yes' if s['met'] else 'NO') for s in steps])


def run_bench(options: RunOptions, work: str, out: TextIO) -> List[dict]:
    tree = resolve_tree(options, out)
    sync_payload(tree, options.repo_root, out)
    # A private, empty ccache makes "cold" really cold for the harness.
    sva_env = dict(os.environ, CCACHE_DIR=os.path.join(work, 'ccache'))
    os.makedirs(sva_env['CCACHE_DIR'])
    # The same kunit.py command line as the harness's (cross compiler,
    # QEMU arguments, kernel arguments) and the same TCG-only QEMU, less
    # what the harness adds to it: ccache.
    plain = [(RUN, kunit_argv(replace(options, use_ccache=False), RUN,
                              os.path.join(work, 'plain')))]
    plain_env = tcg_env(options, None)
    steps: List[dict] = []
    for name, label in ((COLD, 'cold'), (RERUN, 'rerun'),
                        (TOUCHED, 'touched'), (FRESH, 'fresh')):
        print(f'bench: {name} ...', file=out, flush=True)
        if name == TOUCHED:
            os.utime(os.path.join(tree, TOUCHED_FILE))
        start = time.monotonic()
        build = os.path.join(work, 'sva-kunit' + '-fresh' * (name == FRESH))
        with open(os.path.join(work, f'sva-kunit-{label}.log'), 'w') as log:
            outcome = run_suite(replace(options, build_dir=build), log,
                                env=sva_env)
        sva = (time.monotonic() - start, outcome.exit_code == EXIT_OK)
        out.write(f'  sva-kunit {label}: {outcome.summary}\n')
        if name == FRESH:
            # What the shared compiler cache buys: another build dir of
            # the same tree (bisecting, a second checkout); for plain
            # kunit.py a new build dir is a cold build, measured above.
            steps.append(step(name, *sva, steps[0]['plain_s'],
                              steps[0]['plain_ok']))
            continue
        start = time.monotonic()
        with open(os.path.join(work, f'plain-{label}.log'), 'w') as log:
            rc = run_kunit(tree, plain, log, plain_env).returncode
        out.write(f'  plain kunit.py {label}: exit {rc}\n')
        steps.append(step(name, *sva, time.monotonic() - start, rc == 0))
    return steps


# Mutation: the switched way's seconds per mutant, everything but the
# verification included, against the patch-and-rebuild way's.
MUTANT_TARGET_S = 8.0


def bench_mutants(options: RunOptions, out: TextIO) -> dict:
    """After a `run` of the tree, every mutant of it the switched way, and
    again by patching (`mutate --verify=all`): seconds per mutant each
    way, and whether the verdicts agree."""
    first = run_suite(options, out)
    out.write(f'bench: run before mutate: {first.summary}\n')
    with open(os.devnull, 'w') as quiet:  # the table comes below
        campaign = run_campaign((), replace(options, timeout=GROUP_TIMEOUT_S),
                                quiet, verify=['*'], boots=options.jobs)
    count = len(campaign.results)
    switched_s = campaign.seconds / count
    patched = [v[3] for v in campaign.verified]
    patched_s = sum(patched) / len(patched) if patched else 0.0
    return dict(mutants=count, switched_s_per_mutant=switched_s,
                patched_s_per_mutant=patched_s,
                ratio=switched_s / patched_s if patched_s else 0.0,
                built_by_patching=len(campaign.fallback),
                verdicts_differ=len(campaign.mismatches),
                target_s=MUTANT_TARGET_S,
                met=switched_s <= MUTANT_TARGET_S and not campaign.mismatches)


def handle(args: argparse.Namespace, out: TextIO) -> int:
    options = options_from(args)
    if args.mutants:
        check_options(options)
        if options.arch != 'um':
            raise SetupError(f'--mutants with --arch={options.arch}',
                             'mutants boot on UML only: leave out --arch')
        with sigterm_as_interrupt():
            result = bench_mutants(options, out)
        out.write(f'bench: {result["mutants"]} mutants: '
                  f'{result["switched_s_per_mutant"]:.1f} s per mutant '
                  f'switched ({result["built_by_patching"]} built by '
                  f'patching), {result["patched_s_per_mutant"]:.1f} s by '
                  f'patching; ratio {result["ratio"]:.3f}; verdicts differ '
                  f'for {result["verdicts_differ"]}; target <= '
                  f'{MUTANT_TARGET_S:g} s per mutant: '
                  f'{"met" if result["met"] else "MISSED"}\n')
        if args.json:
            with open(args.json, 'w', encoding='utf-8') as f:
                json.dump(result, f, indent=2)
                f.write('\n')
        return EXIT_OK if result['met'] else EXIT_FAILED
    check_options(options)
    work = tempfile.mkdtemp(prefix='bench-',
                            dir=locks.make_cache_dir(options.cache_dir))
    try:
        with sigterm_as_interrupt():
            steps = run_bench(options, work, out)
    finally:
        if args.keep:
            out.write(f'bench: build dirs and logs kept in {work}\n')
        else:
            shutil.rmtree(work, ignore_errors=True)
    out.write('\n'.join(format_table(steps)) + '\n')
    met = all(s['met'] for s in steps)
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump({'steps': steps, 'all_met': met}, f, indent=2)
            f.write('\n')
    out.write('bench: all targets met\n' if met else
              'bench: targets missed (or a run failed); see above\n')
    return EXIT_OK if met else EXIT_FAILED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument('--json', metavar='FILE', type=output_file,
                        help='also write the measurements as JSON')
    parser.add_argument('--keep', action='store_true',
                        help='keep the bench build dirs and logs')
    parser.add_argument('--mutants', action='store_true',
                        help='instead: after a run of the tree, time every '
                        'mutant the switched way and by patching, and '
                        'compare their verdicts')


BENCH = Subcommand('bench', 'time sva-kunit run against plain kunit.py '
                   '(cold, re-run, re-run after a touch) on one tree',
                   add_arguments, handle)
