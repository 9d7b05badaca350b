"""`sva-kunit mutate`: judge every mutant of the catalogue written for a
tree (mutation/campaign.py) and report; the tree is restored also after
Ctrl-C, SIGTERM or, by the journal, a crash."""

import argparse
from typing import TextIO

from .command import (Subcommand, add_build_options, add_cache_dir, add_kernel,
                      directory, glob_filter, output_file, seconds)
from .errors import EXIT_FAILED, EXIT_OK
from .locks import sigterm_as_interrupt
from .mutation.campaign import BUILD_DIR_SUFFIX, report_lines, run_campaign
from .mutation.mutant_report import exit_code, list_lines, to_json
from .mutation.mutants import load_catalogue, select
from .run.suite_run import GROUP_TIMEOUT_S, RunOptions, check_options

VERIFY_ALL = 'all'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_kernel(parser, required=False)
    add_cache_dir(parser)
    parser.add_argument('--build-dir', metavar='DIR', type=directory,
                        help='kunit.py build directory of the mutant builds '
                        '(default: the tree\'s build directory under the '
                        f'cache dir, plus "{BUILD_DIR_SUFFIX}")')
    parser.add_argument('--only', metavar='NAME', action='append',
                        default=[], help='run only this mutant (repeatable; '
                        'names as in --list)')
    parser.add_argument('--list', action='store_true',
                        help='list the mutants written for --source (every '
                        'variant, with --kernel) and exit; needs no tree')
    parser.add_argument('--verify', metavar='NAME', action='append',
                        default=[], help='also judge this switched mutant '
                        'the patch-and-rebuild way, and fail unless both '
                        f'verdicts agree (repeatable; "{VERIFY_ALL}": every '
                        'one)')
    parser.add_argument('--timeout', type=seconds, metavar='SECONDS',
                        help='wall-clock limit per mutant built by '
                        'patching, build included (default: the unmutated '
                        'build, a boot\'s limit and 30 s; a switched '
                        'mutant\'s boot is limited to 3x the unmutated '
                        'boot plus 10 s); a kernel still running then is '
                        'killed, and the mutant counts as killed only with '
                        'a report or a failed test in the log')
    parser.add_argument('--json', metavar='FILE', type=output_file,
                        help='also write the results to FILE as JSON')
    parser.add_argument('--filter', default='', metavar='GLOB',
                        type=glob_filter, help='run only the matching '
                        "tests against each mutant, e.g. 'iommu_sva_model*' "
                        "(kunit.py's filter_glob)")
    add_build_options(parser)


def handle(args: argparse.Namespace, out: TextIO) -> int:
    catalogue = load_catalogue(args.repo_root, '' if args.kernel
                               else args.source)
    selected = select(catalogue, args.only)
    verify = [name for name in args.verify if name != VERIFY_ALL]
    select(selected, verify)  # refuses a name that will not run
    if args.list:
        out.write(''.join(line + '\n' for line in list_lines(selected)))
        return EXIT_OK
    options = RunOptions(cache_dir=args.cache_dir, kernel=args.kernel,
                         source=args.source, build_dir=args.build_dir,
                         jobs=args.jobs, filter_glob=args.filter,
                         use_ccache=args.use_ccache,
                         repo_root=args.repo_root, timeout=GROUP_TIMEOUT_S)
    check_options(options)
    with sigterm_as_interrupt():
        campaign = run_campaign(
            args.only, options, out,
            verify=['*'] if VERIFY_ALL in args.verify else verify,
            boots=args.jobs, patch_timeout=args.timeout)
    out.write('\n'.join(report_lines(campaign)) + '\n')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            f.write(to_json(campaign.results, campaign.baseline_s,
                            campaign.tree, fallback=campaign.fallback,
                            verified=campaign.verified))
    return EXIT_FAILED if campaign.mismatches else exit_code(
        campaign.results)


MUTATE = Subcommand('mutate', 'put each catalogued bug into the kernel in '
                    'turn (all at once as schemata where it can) and check '
                    'the suite catches it; exit 0 all killed (or known '
                    'survivors), 1 not, 2 setup error', add_arguments,
                    handle)
