"""The cache: an extracted linux-source tree per package version, and
one kunit.py build directory per kernel tree.

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
from typing import Callable, Mapping, Optional, TextIO

from .errors import SetupError
from .packages import SOURCE_PACKAGE, Runner

CACHE_ENV = 'SVA_KUNIT_CACHE'
DEFAULT_TARBALL = f'/usr/src/{SOURCE_PACKAGE}.tar.xz'
TARBALL_NAME = re.compile(r'/usr/src/linux-source-[0-9.]+\.tar\.(xz|bz2|gz)$')
EXTRACT_PREFIX = '.extract-'


def default_cache_dir(env: Mapping[str, str] = os.environ) -> str:
    if env.get(CACHE_ENV):
        return os.path.abspath(env[CACHE_ENV])
    return os.path.join(os.path.expanduser('~'), '.cache', 'sva-kunit')


def _safe(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9._+-]', '_', text)


def tree_dir(cache_dir: str, version: str) -> str:
    """Where the tree of one linux-source package version lives."""
    return os.path.join(cache_dir, 'trees',
                        f'{SOURCE_PACKAGE}_{_safe(version)}')


def build_dir_for(cache_dir: str, tree: str) -> str:
    """One build dir per tree, so trees never share (and break) objects."""
    real = os.path.realpath(tree)
    digest = hashlib.sha256(real.encode()).hexdigest()[:12]
    label = _safe(os.path.basename(real.rstrip(os.sep)) or 'root')
    return os.path.join(cache_dir, 'build', f'{label}-{digest}')


def find_tarball(run: Runner = subprocess.run,
                 exists: Callable[[str], bool] = os.path.isfile) -> str:
    proc = run(['dpkg', '-L', SOURCE_PACKAGE], capture_output=True,
               text=True, check=False)
    for line in proc.stdout.splitlines():
        if TARBALL_NAME.match(line.strip()) and exists(line.strip()):
            return line.strip()
    if exists(DEFAULT_TARBALL):
        return DEFAULT_TARBALL
    raise SetupError(f'{SOURCE_PACKAGE} is installed but its tarball was not '
                     f'found ({DEFAULT_TARBALL})',
                     f'reinstall it: apt-get install --reinstall '
                     f'{SOURCE_PACKAGE}')


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def remove_abandoned_extractions(trees: str) -> None:
    """Delete temp dirs left by extractions whose process has died."""
    for name in os.listdir(trees):
        match = re.match(re.escape(EXTRACT_PREFIX) + r'(\d+)-', name)
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(os.path.join(trees, name), ignore_errors=True)


def ensure_tree(cache_dir: str, version: str, out: TextIO,
                tarball: Optional[str] = None,
                run: Runner = subprocess.run) -> str:
    """The extracted tree for this package version, extracting if needed."""
    final = tree_dir(cache_dir, version)
    if os.path.isdir(final):
        return final
    trees = os.path.dirname(final)
    os.makedirs(trees, exist_ok=True)
    remove_abandoned_extractions(trees)
    tarball = tarball or find_tarball(run)
    tmp = tempfile.mkdtemp(prefix=f'{EXTRACT_PREFIX}{os.getpid()}-',
                           dir=trees)
    try:
        out.write(f'sva-kunit: extracting {tarball} into {final} (once per '
                  'package version)\n')
        out.flush()
        proc = run(['tar', '-xf', tarball, '-C', tmp, '--no-same-owner'],
                   check=False)
        if proc.returncode != 0:
            raise SetupError(f'extracting {tarball} failed (tar exit '
                             f'{proc.returncode})', 'check free space in '
                             f'{cache_dir} (or pass --cache-dir) and rerun')
        entries = [e for e in os.listdir(tmp)
                   if os.path.isdir(os.path.join(tmp, e))]
        if len(entries) != 1:
            raise SetupError(f'{tarball} does not hold exactly one top '
                             'directory', f'reinstall {SOURCE_PACKAGE}')
        try:
            os.rename(os.path.join(tmp, entries[0]), final)
        except OSError:
            # Another sva-kunit finished the same extraction first.
            if not os.path.isdir(final):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
