"""File operations that can all be undone if a later one fails, and the
atomic, durable file write they (and the journals) are made of.

The installer promises the tree is either fully updated or exactly as it
was; recording an undo step before every change is what keeps that
promise when a disk fills up or a permission bites halfway through.

atomic_write() writes a temporary file with a name of its own beside the
target, fsyncs it, renames it over the target and fsyncs the directory:
after a kill or a power cut the target is the old file or the new one,
never a truncated mix, and once it returns the new one stays.  Journal
tracks the directories its other changes (unlink, mkdir, rmdir) touch,
and sync() makes those durable before a caller drops its journal file.
"""

import os
import re
import stat
import tempfile
from typing import Callable, Iterable, List, Optional, Set, Tuple

from ..errors import SetupError

TEMP_SUFFIX = '.sva-kunit-tmp'


def tree_path(tree: str, rel: object) -> str:
    """The absolute path of tree-relative `rel`, read from a manifest or a
    journal; ValueError unless it is a plain '/'-separated relative path
    that stays inside the tree with every symlink resolved.

    Those files are data anyone could have edited; a path leading out of
    the tree would have uninstall or a repair change a file elsewhere.
    """
    if (not isinstance(rel, str) or not rel or '\0' in rel
            or rel.startswith('/')
            or any(part in ('', '.', '..') for part in rel.split('/'))):
        raise ValueError(f'{rel!r} is not a plain path inside the tree')
    path = os.path.join(tree, *rel.split('/'))
    root = os.path.realpath(tree)
    if not os.path.realpath(path).startswith(root + os.sep):
        raise ValueError(f'{rel!r} leads out of the tree through a symlink')
    return path


def read_file(path: str) -> Optional[Tuple[bytes, int]]:
    """(bytes, permission bits) of a regular file, None if absent;
    SetupError if something else is there or it cannot be read."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise SetupError(f'{path} is not a regular file', 'put back '
                             'the file that belongs there (e.g. git '
                             'checkout), or move that away, and rerun')
        with open(path, 'rb') as f:
            return f.read(), stat.S_IMODE(os.fstat(f.fileno()).st_mode)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SetupError(f'cannot read {path} ({e.strerror})',
                         'fix that and rerun') from None


def read_bytes(path: str) -> Optional[bytes]:
    """read_file() without the mode."""
    found = read_file(path)
    return None if found is None else found[0]


Owner = Tuple[int, int]  # uid, gid


def owner_of(path: str) -> Optional[Owner]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_uid, st.st_gid


def give(path: str, owner: Owner) -> None:
    """chown, as far as we may: only root can give a file away."""
    if owner_of(path) != owner:
        try:
            os.chown(path, *owner)
        except PermissionError:
            pass


def fsync_dir(directory: str) -> None:
    """Make the directory's entries (a rename, unlink, mkdir) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_parents(paths: Iterable[str]) -> None:
    """fsync_dir() each existing directory that holds one of paths."""
    for directory in sorted({os.path.dirname(p) or '.' for p in paths}):
        if os.path.isdir(directory):
            fsync_dir(directory)


def _temp_name(name: str) -> 're.Pattern[str]':
    # tempfile.mkstemp()'s 8 random characters; none at all for a file
    # left by an older sva-kunit, which named it path + TEMP_SUFFIX.
    return re.compile(re.escape(name) + r'(\.[a-z0-9_]{8})?'
                      + re.escape(TEMP_SUFFIX))


def temp_files(path: str) -> List[str]:
    """What atomic_write(path, ...) left behind when it was killed."""
    directory, name = os.path.split(path)
    pattern = _temp_name(name)
    try:
        names = os.listdir(directory or '.')
    except OSError:
        return []
    return sorted(os.path.join(directory, n) for n in names
                  if pattern.fullmatch(n))


def remove_temp_files(path: str) -> None:
    for tmp in temp_files(path):
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def atomic_write(path: str, data: bytes, mode: int,
                 owner: Optional[Owner] = None) -> None:
    """Replace path by a file of data and mode, owned like the file it
    replaces (or by `owner`): run as root in a user's tree, a new inode
    would otherwise leave the user's file owned by root.  Atomic and
    durable (see the module's docstring); two writers never share a
    temporary file."""
    owner = owner or owner_of(path)
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=name + '.', suffix=TEMP_SUFFIX,
                               dir=directory or '.')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            if owner is not None:
                give(tmp, owner)
            os.chmod(tmp, mode)  # explicit, so the umask cannot change it,
            # and after chown, which drops set-id bits; then the data and
            # the inode reach the disk before the name points at them.
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory or '.')


class Journal:
    """Applies changes and remembers how to reverse each of them."""

    def __init__(self) -> None:
        self._undo: List[Callable[[], None]] = []
        self._touched: Set[str] = set()  # paths whose directory changed

    def write_file(self, path: str, data: bytes, mode: int) -> None:
        before = read_file(path)
        owner = owner_of(path)
        atomic_write(path, data, mode)
        self._touched.add(path)
        if before is None:
            self._undo.append(lambda: os.unlink(path))
        else:
            old_data, old_mode = before
            self._undo.append(lambda: atomic_write(path, old_data, old_mode,
                                                   owner))

    def remove_file(self, path: str) -> None:
        before = read_file(path)
        if before is None:
            return
        owner = owner_of(path)
        os.unlink(path)
        self._touched.add(path)
        old_data, old_mode = before
        self._undo.append(lambda: atomic_write(path, old_data, old_mode,
                                               owner))

    def make_dir(self, path: str) -> None:
        os.mkdir(path)
        self._touched.add(path)
        self._undo.append(lambda: os.rmdir(path))

    def remove_dir(self, path: str) -> None:
        st = os.stat(path)
        os.rmdir(path)
        self._touched.add(path)

        def undo() -> None:
            os.mkdir(path)
            give(path, (st.st_uid, st.st_gid))
            os.chmod(path, stat.S_IMODE(st.st_mode))
        self._undo.append(undo)

    def sync(self) -> None:
        """Make every change so far (or its undoing) durable."""
        fsync_parents(self._touched)

    def rollback(self) -> None:
        # Undo newest first; keep going on errors so one stuck step does
        # not strand every earlier change.
        errors = []
        while self._undo:
            step = self._undo.pop()
            try:
                step()
            except OSError as e:
                errors.append(e)
        if errors:
            raise errors[0]
