"""`sva-kunit install` / `uninstall`: put the suite into a tree, or out."""

import argparse
from typing import TextIO

from . import locks
from .command import Subcommand, add_cache_dir, add_kernel
from .errors import EXIT_OK
from .tree import installer
from .tree.fs_journal import repair_mutation
from .tree.kernel_tree import validate_tree
from .tree.payload import collect_payload


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_kernel(parser, required=True)
    add_cache_dir(parser)  # where the tree's lock lives
    parser.add_argument('--dry-run', action='store_true',
                        help='print what would change; change nothing')


def _handle(args: argparse.Namespace, out: TextIO, install: bool) -> int:
    tree = validate_tree(args.kernel)
    locks.hold_tree(tree, args.cache_dir, out)
    installer.check_state(tree)
    # Announced before any change: a standard output that cannot take it
    # stops the command while the tree is as it was.
    out.write(f'sva-kunit: {"install" if install else "uninstall"}'
              f'{" (dry run)" if args.dry_run else ""}: {tree}\n')
    out.flush()
    # Before uninstalling, so the tree ends up exactly as it was.
    repair_mutation(tree, out, dry_run=args.dry_run)
    payload = collect_payload(args.repo_root) if install else {}
    plan = installer.sync(tree, payload, args.dry_run, out)
    for line in installer.describe(plan, args.dry_run):
        out.write(f'sva-kunit: {line}\n')
    verb = 'installed' if install else 'uninstalled'
    if not plan.actions:
        out.write(f'sva-kunit: {tree}: nothing to do, already {verb}\n')
    elif args.dry_run:
        out.write(f'sva-kunit: dry run: {tree} was not changed\n')
    else:
        out.write(f'sva-kunit: {verb} in {tree}\n')
    return EXIT_OK


INSTALL = Subcommand('install', 'copy the suite and its Kconfig/Makefile '
                     'hooks into a kernel tree (re-running syncs it)',
                     add_arguments, lambda args, out: _handle(args, out, True))
UNINSTALL = Subcommand('uninstall', 'remove everything install added, '
                       'restoring the tree byte-for-byte', add_arguments,
                       lambda args, out: _handle(args, out, False))
