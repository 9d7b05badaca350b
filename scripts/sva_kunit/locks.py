"""One sva-kunit command at a time per kernel tree and per build directory:
a `run` beside a `mutate` would "repair" the live mutant, and two builds
in one build directory break each other."""

import contextlib
import fcntl
import hashlib
import itertools
import os
import shlex
import sys
from typing import Dict, Iterator, TextIO

from .errors import SetupError

BUILD_LOCK_NAME = '.sva-kunit.lock'

_held: Dict[str, int] = {}  # lock file -> its open descriptor


# The tree's lock file lives in the cache dir, so that git status sees
# nothing; the build directory's inside it.
def tree_lock_path(cache_dir: str, tree: str) -> str:
    real = os.path.realpath(tree)
    digest = hashlib.sha256(real.encode()).hexdigest()[:16]
    label = os.path.basename(real.rstrip(os.sep)) or 'root'
    return os.path.join(os.path.abspath(cache_dir), 'locks',
                        f'{label}-{digest}.lock')


def _lock(path: str, what: str, out: TextIO) -> None:
    """Hold an flock(2) on path, which dies with this process, naming it
    in the file; wait, saying once for whom, while another holds it."""
    if path in _held:
        return
    said = False
    for attempt in itertools.count():
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except PermissionError:  # someone else's (root's, say)
                fd = os.open(path, os.O_RDONLY)  # flock needs no write
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
                    holder = os.pread(fd, 4096, 0).decode(errors='replace')
                    out.write(f'sva-kunit: waiting for {what}, which '
                              f'{holder.strip() or "another process"} is '
                              f'using (lock {path})\n')
                    out.flush()
                    said = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            # A holder that finished may have removed the file meanwhile,
            # and a lock on it then protects nothing.
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(os.stat(path), os.fstat(fd)):
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
    # in vain (see _lock), and the tree's lock directory when empty.
    fd = _held.pop(path)
    with contextlib.suppress(OSError):
        os.unlink(path)
        if os.path.basename(path) != BUILD_LOCK_NAME:
            os.rmdir(os.path.dirname(path))
    os.close(fd)


def hold_tree(tree: str, cache_dir: str, out: TextIO) -> None:
    """Wait until no other sva-kunit command uses the tree, then hold it
    until this process (or its session()) ends."""
    _lock(tree_lock_path(cache_dir, tree),
          f'the kernel tree {os.path.abspath(tree)}', out)


def make_build_dir(build_dir: str) -> str:
    path = os.path.abspath(build_dir)
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:  # a file, or a link to none
        raise SetupError(f'the build directory {path} is not a directory',
                         'pass --build-dir=DIR naming a directory (or a '
                         'path to create)') from None
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
        for path in set(_held) - before:
            _release(path)
