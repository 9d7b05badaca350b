"""The cache: an extracted linux-source tree per package version (or only
a few files of it, for checkpatch.pl), and a build directory per tree."""

import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from typing import Mapping, Optional, Sequence, TextIO

from ..errors import SetupError
from .packages import Runner

CACHE_ENV = 'SVA_KUNIT_CACHE'
EXTRACT_PREFIX = '.extract-'


def default_cache_dir(env: Mapping[str, str] = os.environ) -> str:
    if env.get(CACHE_ENV):
        return os.path.abspath(env[CACHE_ENV])
    return os.path.join(os.path.expanduser('~'), '.cache', 'sva-kunit')


def _safe(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9._+-]', '_', text)


def tree_dir(cache_dir: str, package: str, version: str,
             kind: str = 'trees') -> str:
    """Where the tree of one package version lives (kind='files': the
    few files ensure_files extracts of it)."""
    return os.path.join(cache_dir, kind, f'{package}_{_safe(version)}')


def build_dir_for(cache_dir: str, tree: str) -> str:
    """One build dir per tree, so trees never share (and break) objects."""
    real = os.path.realpath(tree)
    digest = hashlib.sha256(real.encode()).hexdigest()[:12]
    label = _safe(os.path.basename(real.rstrip(os.sep)) or 'root')
    return os.path.join(cache_dir, 'build', f'{label}-{digest}')


def find_tarball(package: str) -> str:
    """The tarball of an installed linux-source package."""
    path = f'/usr/src/{package}.tar.xz'
    if not os.path.isfile(path):
        raise SetupError(f'{package} is installed but {path} is missing',
                         f'reinstall it: apt-get install --reinstall '
                         f'{package}')
    return path


def has_files(root: str, members: Sequence[str]) -> bool:
    return all(os.path.isfile(os.path.join(root, m)) for m in members)


def cached_tree(cache_dir: str, package: str, version: str,
                members: Sequence[str] = ()) -> Optional[str]:
    """The cached tree of this package version, else (with members) its
    cached directory of ensure_files that holds them, else None."""
    tree = tree_dir(cache_dir, package, version)
    if os.path.isdir(tree):
        return tree
    files = tree_dir(cache_dir, package, version, 'files')
    return files if members and has_files(files, members) else None


def newest_tree(cache_dir: str, package: str,
                members: Sequence[str] = ()) -> Optional[str]:
    """Like cached_tree, for the most recently extracted version."""
    for kind in ('trees', 'files') if members else ('trees',):
        found = glob.glob(os.path.join(cache_dir, kind, f'{package}_*', ''))
        newest = max(found, key=os.path.getmtime, default=None)
        if newest and (kind == 'trees' or has_files(newest, members)):
            return os.path.dirname(newest)   # without glob's trailing /
    return None


def remove_abandoned(parent: str, prefix: str = EXTRACT_PREFIX) -> None:
    """Delete temp dirs (prefix + pid + '-...') of processes that died."""
    for name in os.listdir(parent):
        match = re.match(re.escape(prefix) + r'(\d+)-', name)
        if match and not os.path.exists(f'/proc/{match.group(1)}'):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def ensure_tree(cache_dir: str, package: str, version: str, out: TextIO,
                tarball: Optional[str] = None, run: Runner = subprocess.run,
                members: Sequence[str] = ()) -> str:
    """The cached tree of this package version, extracted once from
    tarball (default: the installed package's).  With members (tree-
    relative paths) and no whole tree cached, a directory of just those:
    tar still reads the whole tarball, but writes only them."""
    found = cached_tree(cache_dir, package, version, members)
    if found:
        return found
    final = tree_dir(cache_dir, package, version,
                     'files' if members else 'trees')
    tarball = tarball or find_tarball(package)
    what = f'{", ".join(members)} from ' if members else ''
    out.write(f'sva-kunit: extracting {what}{tarball} into {final}\n')
    out.flush()
    # Into a temporary directory, renamed into place only when complete:
    # an interrupted extraction is never taken for a tree.
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    remove_abandoned(parent)
    tmp = tempfile.mkdtemp(prefix=f'{EXTRACT_PREFIX}{os.getpid()}-',
                           dir=parent)
    try:
        # One directory level, then the member: "*" must not match "/".
        patterns = (['--wildcards', '--no-wildcards-match-slash']
                    + [f'*/{m}' for m in members] if members else [])
        proc = run(['tar', '-xf', tarball, '-C', tmp, '--no-same-owner',
                    *patterns], check=False)
        if proc.returncode != 0:
            raise SetupError(f'extracting {tarball} failed (tar exit '
                             f'{proc.returncode})', 'check free space in '
                             f'{cache_dir} (or pass --cache-dir) and rerun')
        entries = [e for e in os.listdir(tmp)
                   if os.path.isdir(os.path.join(tmp, e))]
        if len(entries) != 1:
            raise SetupError(f'{tarball} does not hold exactly one top '
                             'directory', f'reinstall {package}')
        if members and os.path.isdir(final):
            # Fewer files than asked for now: an older harness's set.
            os.rename(final, os.path.join(tmp, 'old'))
        try:
            os.rename(os.path.join(tmp, entries[0]), final)
        except OSError:
            # Another sva-kunit finished the same extraction first.
            if not os.path.isdir(final):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def ensure_files(cache_dir: str, package: str, version: str,
                 members: Sequence[str], out: TextIO,
                 tarball: Optional[str] = None,
                 run: Runner = subprocess.run) -> str:
    return ensure_tree(cache_dir, package, version, out, tarball, run,
                       members)
