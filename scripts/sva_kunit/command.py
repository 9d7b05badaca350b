"""What a subcommand is, and the parser pieces several of them share."""

import argparse
import contextlib
import re
import signal
from typing import Any, Callable, Iterator, NamedTuple, NoReturn, TextIO

from .errors import SetupError
from .run.suite_run import default_jobs
from .tree.kernel_sources import (DEFAULT_SOURCE, SOURCES, default_cache_dir,
                                  source_version)


class Subcommand(NamedTuple):
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    # handler(args, out) -> exit code; raise SetupError for exit 2.
    handler: Callable[[argparse.Namespace, TextIO], int]


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors use sva-kunit's one-line error format."""

    def error(self, message: str) -> NoReturn:
        raise SetupError(f'{self.prog}: {message}',
                         f'see {self.prog} --help')


def add_cache_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--cache-dir', metavar='DIR',
                        default=default_cache_dir(),
                        help='where extracted kernel trees and build dirs '
                        'live (default: $SVA_KUNIT_CACHE or '
                        '~/.cache/sva-kunit; now %(default)s)')


def add_source(parser: Any) -> None:   # a parser or an exclusive group
    where = [f'{v} ({s.package}, ' + (
        f"fetched from {s.suite} into the cache unless this machine's apt "
        'has it' if s.suite else 'installed with apt-get') +
        ('; the default)' if v == DEFAULT_SOURCE else ')')
        for v, s in SOURCES.items()]
    parser.add_argument('--source', metavar='VERSION', default=DEFAULT_SOURCE,
                        type=source_version, help='the Debian kernel source '
                        'to build when --kernel is not given: ' +
                        '; '.join(where))


def add_kernel(parser: argparse.ArgumentParser, required: bool) -> None:
    """--kernel, and unless it is required, --source, which excludes it."""
    group = parser if required else parser.add_mutually_exclusive_group()
    group.add_argument('--kernel', metavar='DIR', required=required,
                       help='kernel source tree (v6.11 or later)' + (
                           '' if required else '; default: the Debian tree '
                           'chosen by --source, extracted in the cache'))
    if not required:
        add_source(group)


def positive_int(text: str) -> int:
    if not re.fullmatch(r'[-+]?[0-9]+', text.strip()):
        raise argparse.ArgumentTypeError(f'{text!r} is not a number')
    if int(text) < 1:
        raise argparse.ArgumentTypeError(f'{text!r} must be at least 1')
    return int(text)


def add_build_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--jobs', type=positive_int, default=default_jobs(),
                        metavar='N', help='parallel make jobs (default: '
                        '%(default)s)')
    parser.add_argument('--no-ccache', dest='use_ccache',
                        action='store_false', help='do not build with '
                        'CC="ccache gcc" even if ccache is installed')


@contextlib.contextmanager
def sigterm_handled(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Run the body with `handler` for SIGTERM, then put the old one back."""
    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        old = None
    try:
        yield
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
