"""Commit a series on top of a repository's HEAD and format it.

The user's repository is only read: the commits are made in a temporary
clone that borrows its objects (--shared, no checkout), with git's
plumbing and a private index, and `git format-patch` writes the files.
"""

import os
import shutil
import tempfile
from typing import List, Optional, Sequence

from ..bisect.git_tree import GitError, git, git_text
from .series import Patch

NO_CONFIG = ('-c', 'core.fsmonitor=false', '-c', 'gc.auto=0',
             '-c', 'commit.gpgsign=false')
SUBJECT_PLACEHOLDER = '*** SUBJECT HERE ***'
BLURB_PLACEHOLDER = '*** BLURB HERE ***'


class Identity:
    def __init__(self, name: str, email: str) -> None:
        self.name, self.email = name, email

    def __str__(self) -> str:
        return f'{self.name} <{self.email}>'

    def env(self) -> dict:
        return {'GIT_AUTHOR_NAME': self.name, 'GIT_AUTHOR_EMAIL': self.email,
                'GIT_COMMITTER_NAME': self.name,
                'GIT_COMMITTER_EMAIL': self.email}


def identity(repo: str) -> Optional[Identity]:
    """user.name and user.email as git would use them in repo."""
    values = []
    for key in ('user.name', 'user.email'):
        proc = git(repo, ('config', '--get', key), check=False)
        value = proc.stdout.decode(errors='replace').strip()
        if proc.returncode != 0 or not value:
            return None
        values.append(value)
    return Identity(*values)


class BaseReader:
    """Files of one commit of a repository, as text."""

    def __init__(self, repo: str, rev: str) -> None:
        self.repo, self.rev = repo, rev

    def __call__(self, rel: str) -> Optional[str]:
        proc = git(self.repo, ('cat-file', 'blob', f'{self.rev}:{rel}'),
                   check=False)
        if proc.returncode != 0:
            return None
        return proc.stdout.decode('utf-8')


def _mode(repo: str, rev: str, rel: str) -> str:
    listed = git_text(repo, ('ls-tree', rev, '--', rel))
    return listed.split()[0] if listed else '100644'


def commit_series(repo: str, base: str, patches: Sequence[Patch],
                  who: Identity) -> List[str]:
    """Commit each patch on top of base in repo; the shas, oldest first."""
    index = os.path.join(git_text(repo, ('rev-parse', '--absolute-git-dir')),
                         'sva-kunit-index')
    env = dict(who.env(), GIT_INDEX_FILE=index)
    signoff = f'Signed-off-by: {who}'
    parent, shas = base, []
    try:
        git(repo, (*NO_CONFIG, 'read-tree', base), env=env)
        for patch in patches:
            for rel, text in sorted(patch.files.items()):
                blob = git(repo, ('hash-object', '-w', '--stdin'),
                           env=env, input_bytes=text.encode('utf-8')
                           ).stdout.decode().strip()
                mode = _mode(repo, parent, rel)
                git(repo, ('update-index', '--add', '--cacheinfo',
                           f'{mode},{blob},{rel}'), env=env)
            tree = git(repo, ('write-tree',), env=env).stdout.decode().strip()
            parent = git(repo, (*NO_CONFIG, 'commit-tree', tree, '-p', parent,
                                '-F', '-'), env=env,
                         input_bytes=patch.message(signoff).encode('utf-8')
                         ).stdout.decode().strip()
            shas.append(parent)
    finally:
        if os.path.exists(index):
            os.unlink(index)
    return shas


def fill_cover_letter(path: str, subject: str, blurb: str) -> None:
    with open(path, encoding='utf-8') as f:
        text = f.read()
    if SUBJECT_PLACEHOLDER not in text or BLURB_PLACEHOLDER not in text:
        raise GitError(f'{path}: git format-patch wrote no placeholders')
    text = text.replace(SUBJECT_PLACEHOLDER, subject, 1)
    text = text.replace(BLURB_PLACEHOLDER, blurb.strip(), 1)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def format_series(kernel: str, patches: Sequence[Patch], who: Identity,
                  outdir: str, cover_subject: str, cover_blurb: str
                  ) -> List[str]:
    """Write the series against kernel's HEAD into outdir; the files,
    cover letter first."""
    scratch = tempfile.mkdtemp(prefix='sva-kunit-format-patch-')
    try:
        clone = os.path.join(scratch, 'repo')
        git(scratch, ('clone', '-q', '--shared', '--no-checkout', kernel,
                      clone))
        base = git_text(clone, ('rev-parse', 'HEAD'))
        shas = commit_series(clone, base, patches, who)
        listed = git_text(clone, (
            *NO_CONFIG, 'format-patch',
            '--cover-letter', '--thread=shallow', f'--base={base}',
            f'--output-directory={os.path.abspath(outdir)}',
            f'{base}..{shas[-1]}'), env=who.env())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    files = listed.splitlines()
    fill_cover_letter(files[0], cover_subject, cover_blurb)
    return files
