"""One sva-kunit command at a time per kernel tree and per build directory.

A `run` started beside a `mutate` on the same tree would "repair" the
live mutant, and two builds in one build directory break each other.
Each command therefore takes an flock(2) on a lock file per tree (under
the cache dir, keyed by the tree's real path, so that nothing appears in
the tree for git status to see) and per build directory (inside it), and
holds it until it ends.  A second command waits, saying once which
process (pid and command line, written into the lock file) holds it.
The kernel frees the lock when its holder dies, however it dies; a
command that ends normally also removes its lock files.

A process takes each lock once: asking again for a lock it holds
returns at once, so nested code paths may each ask.  session() releases
the locks taken inside it.
"""

import contextlib
import fcntl
import hashlib
import itertools
import os
import shlex
import sys
from typing import Dict, Iterator, TextIO

from .errors import SetupError

LOCK_DIR = 'locks'
BUILD_LOCK_NAME = '.sva-kunit.lock'

_held: Dict[str, int] = {}  # lock file -> its open descriptor


def tree_lock_path(cache_dir: str, tree: str) -> str:
    real = os.path.realpath(tree)
    digest = hashlib.sha256(real.encode()).hexdigest()[:16]
    label = os.path.basename(real.rstrip(os.sep)) or 'root'
    return os.path.join(os.path.abspath(cache_dir), LOCK_DIR,
                        f'{label}-{digest}.lock')


def _holder(fd: int) -> str:
    text = os.pread(fd, 4096, 0).decode(errors='replace').strip()
    return text or 'another process'


def _open(path: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        # Someone else's lock file (root's, say): locking needs no write.
        return os.open(path, os.O_RDONLY)


def _same_file(fd: int, path: str) -> bool:
    """Whether path still names the file locked: a holder that finished
    may have removed it meanwhile, and its lock then protects nothing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    locked = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (locked.st_dev, locked.st_ino)


def _lock(path: str, what: str, out: TextIO) -> None:
    if path in _held:
        return
    said = False
    for attempt in itertools.count():
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = _open(path)
        except OSError as e:
            if isinstance(e, FileNotFoundError) and attempt < 100:
                continue  # its directory was just removed (see _release)
            raise SetupError(f'cannot open the lock file {path} '
                             f'({e.strerror})', 'fix the permissions of its '
                             'directory') from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not said:
                    out.write(f'sva-kunit: waiting for {what}, which '
                              f'{_holder(fd)} is using (lock {path})\n')
                    out.flush()
                    said = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    me = f'pid {os.getpid()} ({shlex.join(sys.argv)})\n'
    with contextlib.suppress(OSError):  # opened read-only: holder unnamed
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.encode(), 0)
    _held[path] = fd


def _release(path: str) -> None:
    # Remove the file while still holding it, so that no one waits on it
    # in vain (_same_file), and the tree's lock directory when empty.
    fd = _held.pop(path)
    with contextlib.suppress(OSError):
        os.unlink(path)
    if (os.path.basename(path) != BUILD_LOCK_NAME
            and os.path.basename(os.path.dirname(path)) == LOCK_DIR):
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(path))
    os.close(fd)


def hold_tree(tree: str, cache_dir: str, out: TextIO) -> None:
    """Wait until no other sva-kunit command uses the tree, then hold it
    until this process ends (or its session() does)."""
    _lock(tree_lock_path(cache_dir, tree),
          f'the kernel tree {os.path.abspath(tree)}', out)


def make_build_dir(build_dir: str) -> str:
    """Create the build directory if needed; its absolute path."""
    path = os.path.abspath(build_dir)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise SetupError(f'the build directory {path} is not a directory',
                         'pass --build-dir=DIR naming a directory (or a '
                         'path to create)')
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise SetupError(f'cannot create the build directory {path} '
                         f'({e.strerror})', 'pass --build-dir=DIR somewhere '
                         'you can write') from None
    return path


def hold_build_dir(build_dir: str, out: TextIO) -> str:
    """make_build_dir(), then hold it like hold_tree().  Take a tree's
    lock before its build directory's, or two commands can deadlock."""
    path = make_build_dir(build_dir)
    _lock(os.path.join(path, BUILD_LOCK_NAME), f'the build directory {path}',
          out)
    return path


@contextlib.contextmanager
def session() -> Iterator[None]:
    """Release, at the end, the locks taken inside (one command's)."""
    before = set(_held)
    try:
        yield
    finally:
        for path in [p for p in _held if p not in before]:
            _release(path)
