"""`sva-kunit format-patch`: the suite as a git format-patch series against
the HEAD of a kernel repository, which is only read (upstream/series.py)."""

import argparse
from typing import TextIO

from .command import Subcommand, directory, kernel_dir
from .errors import EXIT_OK
from .upstream.series import write_series


def handle(args: argparse.Namespace, out: TextIO) -> int:
    files = write_series(args.kernel, args.repo_root, args.output_directory)
    out.write(''.join(f'{path}\n' for path in files))
    out.write(f'sva-kunit format-patch: {len(files) - 1} patches and a '
              f'cover letter in {args.output_directory}\n')
    return EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--kernel', metavar='DIR', required=True,
                        type=kernel_dir,
                        help='top of a kernel git repository (Linux 7.3); '
                        'the series applies to its HEAD')
    parser.add_argument('-o', '--output-directory', metavar='OUTDIR',
                        default='.', type=directory,
                        help='where to write the patches (default: the '
                        'current directory)')


FORMAT_PATCH = Subcommand(
    'format-patch', 'write the suite as a git format-patch series (cover '
    'letter included) against the HEAD of a kernel git repository',
    add_arguments, handle)
