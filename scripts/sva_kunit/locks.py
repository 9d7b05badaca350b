"""One command at a time per tree and per build directory: a `run` beside
a `mutate` would "repair" its mutant; two builds in one directory clash."""

import contextlib
import fcntl
import hashlib
import os
import shlex
import sys
from typing import Dict, Iterator, TextIO

from .errors import SetupError

BUILD_LOCK_NAME = '.sva-kunit.lock'

# Lock file -> its open descriptor.  The files stay when released: the
# tree's in the cache dir, so that git status sees nothing; the build
# directory's inside it.
_held: Dict[str, int] = {}


def _lock(path: str, what: str, out: TextIO) -> None:
    """Hold an flock(2) on path, which dies with this process, naming it
    in the file; wait, saying for whom, while another holds it."""
    if path in _held:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:  # someone else's (root's, say)
            fd = os.open(path, os.O_RDONLY)  # flock needs no write
    except OSError as e:
        raise SetupError(f'cannot open the lock file {path} '
                         f'({e.strerror})', 'fix the permissions of its '
                         'directory') from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode(errors='replace')
        out.write(f'sva-kunit: waiting for {what}, which '
                  f'{holder.strip() or "another process"} is using (lock '
                  f'{path})\n')
        out.flush()
        fcntl.flock(fd, fcntl.LOCK_EX)
    me = f'pid {os.getpid()} ({shlex.join(sys.argv)})\n'
    with contextlib.suppress(OSError):  # opened read-only: holder unnamed
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.encode(), 0)
    _held[path] = fd


def hold_tree(tree: str, cache_dir: str, out: TextIO) -> None:
    """Wait until no other sva-kunit command uses the tree, then hold it
    until this process (or its session()) ends."""
    real = os.path.realpath(tree)
    label = os.path.basename(real.rstrip(os.sep)) or 'root'
    digest = hashlib.sha256(real.encode()).hexdigest()[:16]
    _lock(os.path.join(os.path.abspath(cache_dir), 'locks',
                       f'{label}-{digest}.lock'),
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
            os.close(_held.pop(path))
