"""`sva-kunit install` / `uninstall`: put the suite into a tree, or take
it out leaving the tree byte-for-byte as it was."""

import argparse
from typing import TextIO

from . import locks
from .command import Subcommand, add_cache_dir, add_kernel
from .errors import EXIT_OK, SetupError
from .mutation import mutation_journal
from .tree import installer
from .tree.kernel_tree import validate_tree
from .tree.payload import collect_payload


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_kernel(parser, required=True)
    add_cache_dir(parser)  # where the tree's lock lives
    parser.add_argument('--dry-run', action='store_true',
                        help='print what would change; change nothing')


def _report(plan: installer.Plan, dry_run: bool, out: TextIO,
            verb: str) -> None:
    lines = list(installer.describe(plan, dry_run))
    for line in lines:
        out.write(f'sva-kunit: {line}\n')
    if not plan.changes():
        out.write(f'sva-kunit: {plan.tree}: nothing to do, already '
                  f'{verb}\n')
    elif dry_run:
        out.write(f'sva-kunit: dry run: {plan.tree} was not changed\n')
    else:
        out.write(f'sva-kunit: {verb} in {plan.tree}\n')


def handle_install(args: argparse.Namespace, out: TextIO) -> int:
    tree = validate_tree(args.kernel)
    locks.hold_tree(tree, args.cache_dir, out)
    mutation_journal.repair(tree, out, dry_run=args.dry_run)
    payload = collect_payload(args.repo_root)
    if not payload:
        raise SetupError(f'no suite files under {args.repo_root}/drivers or '
                         f'{args.repo_root}/tools', 'run sva-kunit from its '
                         'repository checkout')
    plan = installer.sync(tree, payload, dry_run=args.dry_run, out=out)
    _report(plan, args.dry_run, out, 'installed')
    return EXIT_OK


def handle_uninstall(args: argparse.Namespace, out: TextIO) -> int:
    tree = validate_tree(args.kernel)
    locks.hold_tree(tree, args.cache_dir, out)
    # Before uninstalling, so the tree ends up exactly as it was.
    mutation_journal.repair(tree, out, dry_run=args.dry_run)
    plan = installer.uninstall(tree, dry_run=args.dry_run, out=out)
    _report(plan, args.dry_run, out, 'uninstalled')
    return EXIT_OK


INSTALL = Subcommand('install', 'copy the suite and its Kconfig/Makefile '
                     'hooks into a kernel tree (re-running syncs it)',
                     add_arguments, handle_install)
UNINSTALL = Subcommand('uninstall', 'remove everything install added, '
                       'restoring the tree byte-for-byte',
                       add_arguments, handle_uninstall)
