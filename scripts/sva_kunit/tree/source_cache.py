"""The cache: an extracted linux-source tree per package version (or
only a few files of it, for checkpatch.pl), and one kunit.py build
directory per kernel tree.

Extraction goes to a temporary directory inside the cache and is renamed
into place only when complete, so an interrupted extraction is never
mistaken for a usable tree.
"""

import errno
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from typing import Callable, Mapping, Optional, Sequence, TextIO

from ..errors import SetupError
from .packages import Runner

CACHE_ENV = 'SVA_KUNIT_CACHE'
TARBALL_NAME = re.compile(r'/usr/src/linux-source-[0-9.]+\.tar\.(xz|bz2|gz)$')
EXTRACT_PREFIX = '.extract-'


def default_cache_dir(env: Mapping[str, str] = os.environ) -> str:
    if env.get(CACHE_ENV):
        return os.path.abspath(env[CACHE_ENV])
    return os.path.join(os.path.expanduser('~'), '.cache', 'sva-kunit')


def _safe(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9._+-]', '_', text)


def tree_dir(cache_dir: str, package: str, version: str) -> str:
    """Where the tree of one linux-source package version lives."""
    return os.path.join(cache_dir, 'trees', f'{package}_{_safe(version)}')


def newest_tree(cache_dir: str, package: str, kind: str = 'trees'
                ) -> Optional[str]:
    """The most recently extracted tree of any version of package (with
    kind='files', the newest directory of ensure_files)."""
    trees = os.path.join(cache_dir, kind)
    try:
        names = os.listdir(trees)
    except OSError:
        return None
    found = [os.path.join(trees, n) for n in names
             if n.startswith(f'{package}_')
             and os.path.isdir(os.path.join(trees, n))]
    return max(found, key=os.path.getmtime, default=None)


def build_dir_for(cache_dir: str, tree: str) -> str:
    """One build dir per tree, so trees never share (and break) objects."""
    real = os.path.realpath(tree)
    digest = hashlib.sha256(real.encode()).hexdigest()[:12]
    label = _safe(os.path.basename(real.rstrip(os.sep)) or 'root')
    return os.path.join(cache_dir, 'build', f'{label}-{digest}')


def find_tarball(package: str, run: Runner = subprocess.run,
                 exists: Callable[[str], bool] = os.path.isfile) -> str:
    """The tarball of an installed linux-source package."""
    proc = run(['dpkg', '-L', package], capture_output=True,
               text=True, check=False)
    for line in proc.stdout.splitlines():
        if TARBALL_NAME.match(line.strip()) and exists(line.strip()):
            return line.strip()
    default = f'/usr/src/{package}.tar.xz'
    if exists(default):
        return default
    raise SetupError(f'{package} is installed but its tarball was not '
                     f'found ({default})',
                     f'reinstall it: apt-get install --reinstall {package}')


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def remove_abandoned_extractions(trees: str,
                                 prefix: str = EXTRACT_PREFIX) -> None:
    """Delete temp dirs (named prefix + pid + '-...') left by extractions
    (or downloads) whose process has died."""
    for name in os.listdir(trees):
        match = re.match(re.escape(prefix) + r'(\d+)-', name)
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(os.path.join(trees, name), ignore_errors=True)


def ensure_tree(cache_dir: str, package: str, version: str, out: TextIO,
                tarball: Optional[str] = None,
                run: Runner = subprocess.run) -> str:
    """The extracted tree for this package version, extracting if needed
    (from tarball, by default the installed package's)."""
    final = tree_dir(cache_dir, package, version)
    if os.path.isdir(final):
        return final
    tarball = tarball or find_tarball(package, run)
    out.write(f'sva-kunit: extracting {tarball} into {final} (once per '
              'package version)\n')
    out.flush()
    _extract(cache_dir, package, tarball, final, (), run)
    return final


def files_dir(cache_dir: str, package: str, version: str) -> str:
    """Where a few files of one package version's tree live, extracted
    without the rest of it (ensure_files)."""
    return os.path.join(cache_dir, 'files', f'{package}_{_safe(version)}')


def has_files(root: str, members: Sequence[str]) -> bool:
    return all(os.path.isfile(os.path.join(root, *m.split('/')))
               for m in members)


def ensure_files(cache_dir: str, package: str, version: str,
                 members: Sequence[str], out: TextIO,
                 tarball: Optional[str] = None,
                 run: Runner = subprocess.run) -> str:
    """A directory laid out like the tree of this package version that
    holds at least `members` (tree-relative paths): the whole tree when
    it is cached, else a small one with just those files, extracted once
    (tar still reads the whole tarball, but writes only them)."""
    tree = tree_dir(cache_dir, package, version)
    if os.path.isdir(tree):
        return tree
    final = files_dir(cache_dir, package, version)
    if has_files(final, members):
        return final
    tarball = tarball or find_tarball(package, run)
    out.write(f'sva-kunit: extracting {", ".join(members)} from {tarball} '
              f'into {final}\n')
    out.flush()
    _extract(cache_dir, package, tarball, final, members, run)
    return final


def newest_files(cache_dir: str, package: str, members: Sequence[str]
                 ) -> Optional[str]:
    """The newest cached tree of package, else its newest directory from
    ensure_files that holds every member."""
    tree = newest_tree(cache_dir, package)
    if tree is not None:
        return tree
    found = newest_tree(cache_dir, package, 'files')
    return found if found and has_files(found, members) else None


def _extract(cache_dir: str, package: str, tarball: str, final: str,
             members: Sequence[str], run: Runner) -> None:
    """Extract the tarball's top directory (only `members` of it, if
    any) and rename it to `final`, replacing an incomplete one."""
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    remove_abandoned_extractions(parent)
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
        top = os.path.join(tmp, entries[0])
        if members and os.path.isdir(final):
            # Fewer files than asked for now: an older harness's set.
            os.rename(final, os.path.join(tmp, 'old'))
        try:
            os.rename(top, final)
        except OSError:
            # Another sva-kunit finished the same extraction first.
            if not os.path.isdir(final):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
