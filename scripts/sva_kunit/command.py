"""What a subcommand is, and the parser pieces several of them share."""

import argparse
import dataclasses
import math
import os
import re
import shlex
from typing import Any, Callable, NamedTuple, NoReturn, TextIO

from .errors import EXIT_USAGE, SetupError
from .run.suite_run import ARCHES, RunOptions, default_jobs
from .tree.kernel_sources import (CACHE_ENV, DEFAULT_SOURCE, SOURCES,
                                  default_cache_dir, source_version)


class Subcommand(NamedTuple):
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    # handler(args, out) -> exit code; raise SetupError for exit 2.
    handler: Callable[[argparse.Namespace, TextIO], int]
    # The exit code of a usage or setup error, or of a bug.
    error_exit: int = EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors use sva-kunit's one-line error format
    (and the subcommand's error exit; see cli.main)."""

    def error(self, message: str) -> NoReturn:
        raise SetupError(f'{self.prog}: {message}', f'see {self.prog} --help')


def add_cache_dir(parser: argparse.ArgumentParser) -> None:
    # argparse passes a default through `type` too: $SVA_KUNIT_CACHE is
    # checked like the option.
    parser.add_argument('--cache-dir', metavar='DIR', type=cache_directory,
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
                       type=kernel_dir,
                       help='kernel source tree (v6.11 or later)' + (
                           '' if required else '; default: the Debian tree '
                           'chosen by --source, extracted in the cache'))
    if not required:
        add_source(group)


# Argument types: each refuses, while the command line is parsed and so
# before any work, what would fail later or reach a tool as something
# else (argparse names the option in its one-line error).
Invalid = argparse.ArgumentTypeError
WEEK_S = 7 * 24 * 3600


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not re.fullmatch(r'\s*[-+]?[0-9]{1,12}\s*', text):
            raise Invalid(f'{text!r} is not a whole number from {low} to '
                          f'{high}')
        if not low <= int(text) <= high:
            raise Invalid(f'{text!r} is not from {low} to {high}')
        return int(text)
    parse.__name__ = 'number'  # for argparse's "invalid number value"
    return parse


positive_int = bounded_int(1, 1_000_000)
jobs = bounded_int(1, 4096)
whole_seconds = bounded_int(1, WEEK_S)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= WEEK_S:   # also refuses nan and inf
        raise Invalid(f'{text!r} is not a number of seconds above 0 and up '
                      f'to {WEEK_S} (a week)')
    return value


# Values that end up on the kernel command line (kunit.py passes the
# filter as kunit.filter_glob=): printable ASCII but blanks, which would
# split them, and '"', which would swallow the arguments after it; short
# enough for the command line.  A leading "-" would make the filter an
# option of kunit.py.
_KERNEL_WORD = re.compile(r'[!#-~]{1,256}')


def glob_filter(text: str) -> str:
    if text and (text.startswith('-') or not _KERNEL_WORD.fullmatch(text)):
        raise Invalid(f'{text[:80]!r} is not a test glob (SUITE_GLOB[.'
                      'TEST_GLOB]: up to 256 printable characters, no blank, '
                      'no \'"\', no leading "-")')
    return text


def kernel_arg(text: str) -> str:
    if not _KERNEL_WORD.fullmatch(text):
        raise Invalid(f'{text[:80]!r} is not one kernel command line '
                      'argument (up to 256 printable characters, no blank, '
                      'no \'"\')')
    return text


# kunit.py's own pattern (kunit_config.CONFIG_PATTERN, the same in 6.12
# and 7.3): anything else makes its parser raise after the harness ran.
_KCONFIG = re.compile(r'CONFIG_[A-Za-z0-9_]+=(\S+|".*")')


def kconfig_option(text: str) -> str:
    if not _KCONFIG.fullmatch(text):
        raise Invalid(f'{text!r} is not of the form CONFIG_X=y (no blanks '
                      'but in a quoted string value)')
    return text


def qemu_args(text: str) -> str:
    try:
        shlex.split(text)   # as kunit.py splits it
    except ValueError as e:
        raise Invalid(f'{text!r} cannot be split into arguments ({e})'
                      ) from None
    return text


def arch(text: str) -> str:
    if text not in ARCHES:
        raise Invalid(f'{text!r} is not supported (supported: '
                      f'{", ".join(ARCHES)})')
    return text


def _path(text: str, what: str) -> str:
    """Absolute; refused if the system could not use it."""
    path = os.path.abspath(os.path.expanduser(text)) if text else ''
    if not path or '\0' in path or len(os.fsencode(path)) >= 4096 or any(
            len(os.fsencode(part)) > 255 for part in path.split('/')):
        raise Invalid(f'{text[:80]!r} is not {what} (empty, or too long)')
    return path


def kernel_dir(text: str) -> str:
    """--kernel: checked as a tree before any work; here only a path."""
    return _path(text, 'a path')


def directory(text: str) -> str:
    """A directory, or a path where one can be made: nothing on the way
    is a file.  Absolute."""
    path = _path(text, 'a path')
    ancestor = path
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise Invalid(f'{ancestor} is not a directory' if ancestor == path
                      else f'{path} cannot be made: {ancestor} is not a '
                      'directory')
    if not os.access(ancestor, os.W_OK | os.X_OK) and ancestor != path:
        raise Invalid(f'{path} cannot be made: {ancestor} is not writable')
    return path


def cache_directory(text: str) -> str:
    try:
        return directory(text)
    except Invalid as e:
        if text == os.environ.get(CACHE_ENV):
            raise Invalid(f'{e} (from ${CACHE_ENV})') from None
        raise


def output_file(text: str) -> str:
    """A file that can be written: not a directory, in a writable
    directory that exists.  Absolute."""
    path = _path(text, 'a file name')
    if text.endswith('/'):
        raise Invalid(f'{text!r} is not a file name')
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        raise Invalid(f'{path} is a directory')
    if not os.path.isdir(parent):
        raise Invalid(f'{parent} is not a directory')
    if not os.access(path if os.path.lexists(path) else parent, os.W_OK):
        raise Invalid(f'{path} is not writable')
    return path


def add_build_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--jobs', type=jobs, default=default_jobs(),
                        metavar='N', help='parallel make jobs (default: '
                        '%(default)s)')
    parser.add_argument('--no-ccache', dest='use_ccache',
                        action='store_false', help='do not build with '
                        'CC="ccache gcc" even if ccache is installed')


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with `bench`, which must run the same configuration."""
    add_kernel(parser, required=False)
    add_cache_dir(parser)
    parser.add_argument('--kconfig-add', metavar='CONFIG_X=Y',
                        action='append', default=[], type=kconfig_option,
                        help='extra Kconfig option for the test kernel '
                        '(repeatable), e.g. CONFIG_KASAN=y')
    # No `choices`: an unsupported arch deserves its own explanation.
    parser.add_argument('--arch', default='um', type=arch,
                        help='um (default), or arm64 / x86_64 under QEMU')
    parser.add_argument('--qemu-args', metavar='ARGS', action='append',
                        default=[], type=qemu_args,
                        help="extra QEMU arguments for arm64 / x86_64, e.g. "
                        "'-smp 2' (kunit.py's --qemu_args)")
    parser.add_argument('--smp', action='store_true',
                        help='boot two CPUs, for the race cases: under '
                        "QEMU '-smp 2'; UML (v6.17+) with ncpus=2, its "
                        'seccomp userspace and kmemleak off')
    add_build_options(parser)


def options_from(args: argparse.Namespace) -> RunOptions:
    """The RunOptions fields the parser has (its dests are their names)."""
    return RunOptions(**{f.name: getattr(args, f.name)
                         for f in dataclasses.fields(RunOptions)
                         if hasattr(args, f.name)})
