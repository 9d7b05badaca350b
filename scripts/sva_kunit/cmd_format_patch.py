"""`sva-kunit format-patch`: the suite as a git format-patch series against
the HEAD of a kernel repository.  That repository is only read: the
commits are made with git's plumbing in a clone that borrows its objects.
"""

import argparse
import glob
import os
import shutil
import tempfile
from typing import List, Optional, TextIO

from .bisect.git_tree import GitError, git, git_text, toplevel
from .command import Subcommand
from .errors import EXIT_OK, SetupError
from .upstream import series

NO_CONFIG = ('-c', 'core.fsmonitor=false', '-c', 'gc.auto=0',
             '-c', 'commit.gpgsign=false')
COVER_LETTER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            'upstream', 'cover-letter.txt')
PLACEHOLDERS = ('*** SUBJECT HERE ***', '*** BLURB HERE ***')


def write_series(kernel: str, repo_root: str, outdir: str) -> List[str]:
    """The files written, cover letter first; SetupError for what the
    user has to fix."""
    top = toplevel(kernel)
    if top is None or os.path.realpath(top) != os.path.realpath(kernel):
        raise SetupError(f'{kernel} is not the top of a git work tree',
                         'format-patch writes the series against the HEAD '
                         'of a kernel git repository; pass its top '
                         'directory as --kernel')
    name, email = (git(kernel, ('config', '--get', key), check=False)
                   .stdout.decode(errors='replace').strip()
                   for key in ('user.name', 'user.email'))
    if not name or not email:
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

        def read_base(rel: str) -> Optional[str]:
            proc = git(kernel, ('cat-file', 'blob', f'{head}:{rel}'),
                       check=False)
            return (proc.stdout.decode('utf-8') if proc.returncode == 0
                    else None)
        patches = series.build_series(repo_root, read_base,
                                      f'{name} <{email}>')
        os.makedirs(outdir, exist_ok=True)
        files = _format(kernel, head, patches, name, email,
                        os.path.abspath(outdir))
        with open(COVER_LETTER, encoding='utf-8') as f:
            subject, _, blurb = f.read().partition('\n---\n')
        with open(files[0], encoding='utf-8') as f:
            cover = f.read()
        if not all(placeholder in cover for placeholder in PLACEHOLDERS):
            raise GitError(f'{files[0]}: git format-patch wrote no '
                           'placeholders')
        cover = cover.replace(PLACEHOLDERS[0], subject.strip(), 1)
        with open(files[0], 'w', encoding='utf-8') as f:
            f.write(cover.replace(PLACEHOLDERS[1], blurb.strip(), 1))
        return files
    except (ValueError, GitError) as e:
        raise SetupError(f'cannot make the series against {kernel}: {e}',
                         'the series targets a Linux 7.3 tree') from None


def _format(kernel: str, base: str, patches: list, name: str, email: str,
            outdir: str) -> List[str]:
    """Commit the patches on base in a scratch clone of kernel and write
    them into outdir; the files, cover letter first."""
    env = {'GIT_AUTHOR_NAME': name, 'GIT_AUTHOR_EMAIL': email,
           'GIT_COMMITTER_NAME': name, 'GIT_COMMITTER_EMAIL': email}
    scratch = tempfile.mkdtemp(prefix='sva-kunit-format-patch-')
    try:
        clone = os.path.join(scratch, 'repo')
        git(scratch, ('clone', '-q', '--shared', '--no-checkout', kernel,
                      clone))
        git(clone, (*NO_CONFIG, 'read-tree', base))
        parent = base
        for message, files in patches:
            for rel, text in sorted(files.items()):
                blob = git(clone, ('hash-object', '-w', '--stdin'),
                           input_bytes=text.encode('utf-8')).stdout
                listed = git_text(clone, ('ls-files', '-s', '--', rel))
                mode = listed.split()[0] if listed else '100644'
                git(clone, ('update-index', '--add', '--cacheinfo',
                            f'{mode},{blob.decode().strip()},{rel}'))
            tree = git_text(clone, ('write-tree',))
            message = (f'{message.strip()}\n\nSigned-off-by: {name} '
                       f'<{email}>\n')
            parent = git(clone, (*NO_CONFIG, 'commit-tree', tree, '-p',
                                 parent, '-F', '-'), env=env,
                         input_bytes=message.encode('utf-8')
                         ).stdout.decode().strip()
        return git_text(clone, (
            *NO_CONFIG, 'format-patch', '--cover-letter', '--thread=shallow',
            f'--base={base}', f'--output-directory={outdir}',
            f'{base}..{parent}'), env=env).splitlines()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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
