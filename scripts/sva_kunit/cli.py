"""Command line entry point: the subcommands and the exit codes."""

import os
import signal
import sys
import traceback
from typing import List, Optional, Sequence, TextIO

from . import (cmd_bench, cmd_bisect_selftest, cmd_bisect_step, cmd_check,
               cmd_format_patch, cmd_install, cmd_mutate, cmd_run, locks)
from .command import Parser
from .errors import (DEBUG_ENV, ERROR_PREFIX, EXIT_USAGE, OutputError,
                     SetupError)
from .git_tools import GitError
from .locks import sigterm_handled
from .tree.payload import default_repo_root

SUBCOMMANDS = (cmd_run.RUN, cmd_install.INSTALL, cmd_install.UNINSTALL,
               cmd_check.CHECK, cmd_bench.BENCH, cmd_mutate.MUTATE,
               cmd_bisect_step.BISECT_STEP,
               cmd_bisect_selftest.BISECT_SELFTEST,
               cmd_format_patch.FORMAT_PATCH)


class Output:
    """A command's standard output; a write it cannot take (closed, disk
    full, reader gone) raises OutputError instead of OSError."""

    def __init__(self, stream: Optional[TextIO]) -> None:
        self._stream = stream

    @property
    def closed(self) -> bool:
        return self._stream is None or getattr(self._stream, 'closed', False)

    def write(self, text: str) -> int:
        try:
            if self._stream is None:
                raise ValueError('it is closed')
            return self._stream.write(text)
        except (OSError, ValueError) as e:
            raise OutputError(f'cannot write to standard output ({e})'
                              ) from None

    def writelines(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            if self._stream is not None:
                self._stream.flush()
        except (OSError, ValueError) as e:
            raise OutputError(f'cannot write to standard output ({e})'
                              ) from None


def internal_error(e: BaseException) -> str:
    """One line for a bug of the harness: the exception and where it was
    raised; the traceback itself only with $SVA_KUNIT_DEBUG."""
    frames = traceback.extract_tb(e.__traceback__)
    where = ''
    if frames:
        frame = frames[-1]
        where = f' at {os.path.basename(frame.filename)}:{frame.lineno}'
    return (f'{ERROR_PREFIX}internal error ({type(e).__name__}: {e}{where});'
            f' this is a bug of sva-kunit, not a verdict; rerun with '
            f'{DEBUG_ENV}=1 for the traceback')


def _say(err: Optional[TextIO], line: str) -> None:
    try:
        err.write(' '.join(line.split('\n')) + '\n')
        err.flush()
    except (AttributeError, OSError, ValueError):
        pass  # no stderr either: the exit code is all that is left


def main(argv: Optional[Sequence[str]] = None,
         out: Optional[TextIO] = None, err: Optional[TextIO] = None,
         repo_root: Optional[str] = None) -> int:
    """Run one subcommand; return its exit code (0 ok, 1 failed, 2 setup;
    bisect-step's errors 128)."""
    out = Output(sys.stdout if out is None else out)
    err = sys.stderr if err is None else err
    argv = sys.argv[1:] if argv is None else list(argv)
    stops_bisection = names_bisect_step(argv)
    error_exit = cmd_bisect_step.EXIT_ABORT if stops_bisection else EXIT_USAGE
    # SIGTERM unwinds like Ctrl-C from the start, so that nothing started
    # is left running and the exit is one of ours.
    with sigterm_handled(signal.default_int_handler):
        return _main(argv, out, err, repo_root, stops_bisection, error_exit)


def names_bisect_step(argv: Sequence[str]) -> bool:
    """Is the subcommand bisect-step (the first word that is no option),
    before it is parsed: git bisect run must never read a usage mistake
    as "bad" (2) or help as "good" (0)."""
    words = [a for a in argv if not a.startswith('-')]
    return words[:1] == [cmd_bisect_step.BISECT_STEP.name]


def _parser() -> Parser:
    parser = Parser(prog='sva-kunit', description='Build, run and judge the '
                    'IOMMU SVA KUnit suite on a kernel tree.')
    sub = parser.add_subparsers(dest='subcommand', metavar='SUBCOMMAND',
                                parser_class=Parser)
    for command in SUBCOMMANDS:
        p = sub.add_parser(command.name, help=command.help,
                           description=command.help)
        command.add_arguments(p)
        p.set_defaults(handler=command.handler,
                       error_exit=command.error_exit)
    return parser


def _main(argv: List[str], out: Output, err: Optional[TextIO],
          repo_root: Optional[str], stops_bisection: bool,
          error_exit: int) -> int:
    try:
        parser = _parser()
        try:
            os.getcwd()
        except FileNotFoundError:
            raise SetupError('the current directory no longer exists',
                             'cd to one that does and rerun') from None
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help
            if e.code == 0 and stops_bisection and \
                    cmd_bisect_step.bisecting(argv):
                return error_exit
            raise
        if args.subcommand is None:
            raise SetupError('no subcommand given (one of ' + ', '.join(
                c.name for c in SUBCOMMANDS) + ')', 'see sva-kunit --help')
        error_exit = args.error_exit
        if out.closed:
            raise OutputError('cannot write to standard output (it is '
                              'closed)')
        args.repo_root = repo_root or default_repo_root()
        with locks.session():
            code = args.handler(args, out)
        out.flush()  # a verdict that cannot be read is no verdict
        return code
    except SetupError as e:
        _flush_quietly(out)
        _say(err, e.one_line())
        return error_exit
    except GitError as e:
        _flush_quietly(out)
        _say(err, f'{ERROR_PREFIX}{e}')
        return error_exit
    except OutputError as e:
        _say(err, f'{ERROR_PREFIX}{e}; no verdict was given')
        return error_exit
    except KeyboardInterrupt:
        _say(err, 'sva-kunit: interrupted')
        # bisect-step: an interrupt is no verdict either (git stops).
        return error_exit if stops_bisection else 130
    except (Exception, RecursionError) as e:  # noqa: BLE001 -- see below
        # A bug must not pass for a verdict (exit 1) or leave a traceback
        # where one line is promised.
        _flush_quietly(out)
        if os.environ.get(DEBUG_ENV):
            _say_traceback(err)
        _say(err, internal_error(e))
        return error_exit


def _flush_quietly(out: Output) -> None:
    try:
        out.flush()
    except OutputError:
        pass


def _say_traceback(err: Optional[TextIO]) -> None:
    try:
        traceback.print_exc(file=err)
    except (AttributeError, OSError, ValueError):
        pass
