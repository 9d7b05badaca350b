"""`sva-kunit format-patch`: the suite as a patch series for upstream.

It writes a `git format-patch` series, cover letter included, against
the HEAD of the git repository in --kernel: the fake IOMMU driver, the
suites with their .kunitconfig, the config fragment, the Kconfig and
Makefile lines and a MAINTAINERS entry, with the C resolved for that
tree (see upstream/source_text.py).  The repository is only read.
"""

import argparse
import glob
import os
from typing import List, TextIO

from .bisect.git_tree import GitError, git_text, toplevel
from .command import Subcommand
from .errors import EXIT_OK, SetupError
from .upstream import git_series, series

COVER_LETTER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            'upstream', 'cover-letter.txt')


def cover_letter() -> tuple:
    """(subject, blurb) of the cover letter."""
    with open(COVER_LETTER, encoding='utf-8') as f:
        subject, _, blurb = f.read().partition('\n---\n')
    return subject.strip(), blurb


def write_series(kernel: str, repo_root: str, outdir: str) -> List[str]:
    """The files written, cover letter first; SetupError for what the
    user has to fix."""
    top = toplevel(kernel)
    if top is None or os.path.realpath(top) != os.path.realpath(kernel):
        raise SetupError(f'{kernel} is not the top of a git work tree',
                         'format-patch writes the series against the HEAD '
                         'of a kernel git repository; pass its top '
                         'directory as --kernel')
    who = git_series.identity(kernel)
    if who is None:
        raise SetupError(f'no git user.name and user.email for {kernel}',
                         'set them (git config user.name/user.email): they '
                         'sign off the patches and name the maintainer')
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise SetupError(f'{outdir} is not a directory',
                         'pass a directory as -o')
    old = sorted(glob.glob(os.path.join(glob.escape(outdir), '[0-9]'
                                        '[0-9][0-9][0-9]-*.patch')))
    if old:
        raise SetupError(f'{outdir} already holds {os.path.basename(old[0])}'
                         f' and {len(old) - 1} more patches',
                         'pass an empty or new directory as -o')
    try:
        head = git_text(kernel, ('rev-parse', '--verify', 'HEAD'))
        patches = series.build_series(
            repo_root, git_series.BaseReader(kernel, head), str(who))
        os.makedirs(outdir, exist_ok=True)
        subject, blurb = cover_letter()
        return git_series.format_series(kernel, patches, who, outdir,
                                        subject, blurb)
    except (series.SeriesError, ValueError, GitError, UnicodeDecodeError
            ) as e:
        raise SetupError(f'cannot make the series against {kernel}: {e}',
                         'the series targets a Linux 7.3 tree') from None


def handle(args: argparse.Namespace, out: TextIO) -> int:
    files = write_series(args.kernel, args.repo_root, args.output_directory)
    for path in files:
        out.write(path + '\n')
    out.write(f'sva-kunit format-patch: {len(files) - 1} patches and a '
              f'cover letter in {args.output_directory}\n')
    return EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--kernel', metavar='DIR', required=True,
                        help='top of a kernel git repository (Linux 7.3); '
                        'the series applies to its HEAD')
    parser.add_argument('-o', '--output-directory', metavar='OUTDIR',
                        default='.', help='where to write the patches '
                        '(default: the current directory)')


FORMAT_PATCH = Subcommand(
    'format-patch', 'write the suite as a git format-patch series (cover '
    'letter included) against the HEAD of a kernel git repository',
    add_arguments, handle)
