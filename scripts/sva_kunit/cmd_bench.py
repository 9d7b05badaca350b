"""`sva-kunit bench`: time `run` against plain `kunit.py run` (what users
type, with the harness's cross compiler, QEMU arguments and TCG-only QEMU)
on one tree, in fresh build dirs, one step after another (two cores)."""

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from typing import List, TextIO, Tuple

from .cmd_run import add_run_arguments, align, options_from
from .command import Subcommand
from .errors import EXIT_FAILED, EXIT_OK
from .run.arches import get_arch, tcg_env
from .run.kunit_runner import RUN, run_kunit
from .run.suite_run import (RunOptions, kunit_argv, resolve_tree, run_suite,
                            sync_payload)

TOUCHED_FILE = 'drivers/iommu/iommu-sva.c'
COLD, RERUN, TOUCHED = 'cold build+run', 're-run, nothing changed', \
    f're-run after touch {TOUCHED_FILE}'
FRESH = 'new build dir, same tree (ccache warm)'
TARGETS = {COLD: 1.10, RERUN: 1.05, TOUCHED: 1.05, FRESH: 1.00}


@dataclass
class Step:
    name: str
    sva_kunit_s: float
    sva_kunit_ok: bool
    plain_s: float
    plain_ok: bool

    @property
    def ratio(self) -> float:
        return self.sva_kunit_s / self.plain_s if self.plain_s else 0.0

    @property
    def met(self) -> bool:
        return self.sva_kunit_ok and self.plain_ok and \
            self.ratio <= TARGETS[self.name]


def format_table(steps: List[Step]) -> List[str]:
    return align([('step', 'sva-kunit', 'plain', 'ratio', 'target', 'met')]
                 + [(s.name, f'{s.sva_kunit_s:.1f}s' + ('' if s.sva_kunit_ok
                                                        else ' (failed)'),
                     f'{s.plain_s:.1f}s' + ('' if s.plain_ok
                                            else ' (failed)'),
                     f'{s.ratio:.3f}', f'<={TARGETS[s.name]:.2f}',
                     'yes' if s.met else 'NO') for s in steps])


def run_bench(options: RunOptions, work: str, out: TextIO) -> List[Step]:
    tree = resolve_tree(options, out)
    sync_payload(tree, options.repo_root, out)
    ccache_dir = os.path.join(work, 'ccache')
    os.makedirs(ccache_dir)
    # A private, empty ccache makes "cold" really cold for the harness.
    sva_env = dict(os.environ, CCACHE_DIR=ccache_dir)
    plain_build = os.path.join(work, 'plain')
    os.makedirs(plain_build)
    # The same kunit.py command line as the harness's (cross compiler,
    # QEMU arguments, kernel arguments) and the same TCG-only QEMU, less
    # what the harness adds to it: ccache and a JSON file.
    plain_argv = kunit_argv(options, RUN, plain_build)
    plain_env = tcg_env(options.cache_dir, get_arch(options.arch).qemu,
                        None)

    def timed(side: str, label: str) -> Tuple[float, bool]:
        start = time.monotonic()
        with open(os.path.join(work, f'{side}-{label}.log'), 'w') as log:
            if side == 'plain':
                rc = run_kunit(tree, [(RUN, plain_argv)], log,
                               plain_env).returncode
                out.write(f'  plain kunit.py {label}: exit {rc}\n')
            else:
                build = 'sva-kunit-fresh' if label == 'fresh' else side
                outcome = run_suite(replace(
                    options, build_dir=os.path.join(work, build),
                    json_path=None), log, env=sva_env)
                rc = outcome.exit_code
                out.write(f'  sva-kunit {label}: {outcome.summary}\n')
        return time.monotonic() - start, rc == 0

    steps: List[Step] = []
    for name, label in ((COLD, 'cold'), (RERUN, 'rerun'),
                        (TOUCHED, 'touched'), (FRESH, 'fresh')):
        out.write(f'bench: {name} ...\n')
        out.flush()
        if label == 'touched':
            os.utime(os.path.join(tree, TOUCHED_FILE))
        sva = timed('sva-kunit', label)
        # FRESH is what the shared compiler cache buys: another build dir
        # of the same tree (bisecting, a second checkout); for plain
        # kunit.py a new build dir is a cold build, measured above.
        plain = ((steps[0].plain_s, steps[0].plain_ok) if label == 'fresh'
                 else timed('plain', label))
        steps.append(Step(name, *sva, *plain))
    return steps


def handle(args: argparse.Namespace, out: TextIO) -> int:
    options = options_from(args)
    os.makedirs(options.cache_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix='bench-', dir=options.cache_dir)
    try:
        steps = run_bench(options, work, out)
    finally:
        if args.keep:
            out.write(f'bench: build dirs and logs kept in {work}\n')
        else:
            shutil.rmtree(work, ignore_errors=True)
    out.write('\n'.join(format_table(steps)) + '\n')
    met = all(s.met for s in steps)
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump({'steps': [dict(asdict(s), ratio=s.ratio,
                                      target=TARGETS[s.name], met=s.met)
                                 for s in steps], 'all_met': met}, f,
                      indent=2)
            f.write('\n')
    out.write('bench: all targets met\n' if met else
              'bench: targets missed (or a run failed); see above\n')
    return EXIT_OK if met else EXIT_FAILED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument('--json', metavar='FILE',
                        help='also write the measurements as JSON')
    parser.add_argument('--keep', action='store_true',
                        help='keep the bench build dirs and logs')


BENCH = Subcommand('bench', 'time sva-kunit run against plain kunit.py '
                   '(cold, re-run, re-run after a touch) on one tree',
                   add_arguments, handle)
