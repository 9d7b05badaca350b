"""Command line entry point: the subcommands and the exit codes."""

import sys
from typing import Optional, Sequence, TextIO

from . import (cmd_bench, cmd_bisect_selftest, cmd_bisect_step, cmd_check,
               cmd_format_patch, cmd_install, cmd_mutate, cmd_run, locks)
from .command import Parser
from .errors import EXIT_USAGE, SetupError
from .tree.payload import default_repo_root

SUBCOMMANDS = (cmd_run.RUN, cmd_install.INSTALL, cmd_install.UNINSTALL,
               cmd_check.CHECK, cmd_bench.BENCH, cmd_mutate.MUTATE,
               cmd_bisect_step.BISECT_STEP,
               cmd_bisect_selftest.BISECT_SELFTEST,
               cmd_format_patch.FORMAT_PATCH)


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout,
         err: TextIO = sys.stderr, repo_root: Optional[str] = None) -> int:
    """Run one subcommand; return its exit code (0 ok, 1 failed, 2 setup)."""
    parser = Parser(prog='sva-kunit', description='Build, run and judge the '
                    'IOMMU SVA KUnit suite on a kernel tree.')
    sub = parser.add_subparsers(dest='subcommand', metavar='SUBCOMMAND',
                                parser_class=Parser)
    for command in SUBCOMMANDS:
        p = sub.add_parser(command.name, help=command.help,
                           description=command.help)
        command.add_arguments(p)
        p.set_defaults(handler=command.handler)
    try:
        args = parser.parse_args(argv)
        if args.subcommand is None:
            parser.print_help(out)
            return EXIT_USAGE
        args.repo_root = repo_root or default_repo_root()
        with locks.session():
            return args.handler(args, out)
    except SetupError as e:
        out.flush()
        err.write(e.one_line() + '\n')
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.write('sva-kunit: interrupted\n')
        return 130
