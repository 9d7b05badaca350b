"""One command at a time per tree and per build directory (a `run` beside
a `mutate` would "repair" its mutant; two builds in one directory clash),
and the signals that must unwind a command so that it lets go."""

import contextlib
import fcntl
import hashlib
import os
import shlex
import signal
import stat
import sys
from typing import Any, Callable, ContextManager, Dict, Iterator, TextIO

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
    # Never through a symlink: the file is written.
    flags = os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o644)
        except PermissionError:  # someone else's (root's, say)
            fd = os.open(path, os.O_RDONLY | flags)  # flock needs no write
    except OSError as e:
        raise SetupError(f'cannot open the lock file {path} '
                         f'({e.strerror})', 'remove it if it is a symlink, '
                         'or fix the permissions of its directory') from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)  # it is written: not through another name
        raise SetupError(f'the lock file {path} is not a regular file of '
                         'its own (a device, or a hard link)', 'move that '
                         'away and rerun')
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
        os.pwrite(fd, me.encode('utf-8', 'backslashreplace'), 0)
    _held[path] = fd


def inside(path: str, tree: str) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(tree)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def hold_tree(tree: str, cache_dir: str, out: TextIO) -> None:
    """Wait until no other sva-kunit command uses the tree, then hold it
    until this process (or its session()) ends.  The cache must be
    outside the tree: uninstall and bisect-step promise the tree as it
    was."""
    locks_dir = os.path.join(os.path.abspath(cache_dir), 'locks')
    if inside(cache_dir, tree) or inside(locks_dir, tree):
        raise SetupError(f'the cache directory {cache_dir} (or its locks/) '
                         f'is inside the kernel tree {tree}', 'pass '
                         '--cache-dir=DIR (or set SVA_KUNIT_CACHE) outside '
                         'it')
    real = os.path.realpath(tree)
    label = os.path.basename(real.rstrip(os.sep)) or 'root'
    digest = hashlib.sha256(real.encode()).hexdigest()[:16]
    _lock(os.path.join(os.path.abspath(cache_dir), 'locks',
                       f'{label}-{digest}.lock'),
          f'the kernel tree {os.path.abspath(tree)}', out)


def make_directory(path: str, what: str = 'build directory',
                   option: str = '--build-dir') -> str:
    """path, made if need be (absolute); SetupError naming the option
    when it cannot be."""
    path = os.path.abspath(path)
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:  # a file, or a link to none
        raise SetupError(f'the {what} {path} is not a directory',
                         f'pass {option}=DIR naming a directory (or a '
                         'path to create)') from None
    except OSError as e:
        raise SetupError(f'cannot create the {what} {path} '
                         f'({e.strerror})', f'pass {option}=DIR somewhere '
                         'you can write') from None
    return path


def make_cache_dir(path: str) -> str:
    return make_directory(path, 'cache directory', '--cache-dir')


def hold_build_dir(build_dir: str, out: TextIO) -> str:
    """make_directory(), then hold it like hold_tree().  Take a tree's
    lock before its build directory's, or two commands can deadlock."""
    path = make_directory(build_dir)
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


@contextlib.contextmanager
def sigterm_handled(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Run the body with `handler` for SIGTERM, then put the old one back."""
    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        old = None
    try:
        yield
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def sigterm_as_interrupt() -> ContextManager[None]:
    """SIGTERM unwinds like Ctrl-C, so `finally` restores the tree."""
    return sigterm_handled(signal.default_int_handler)
