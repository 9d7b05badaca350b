"""Reading the tree's files, and the atomic, durable write that every
change to the tree (and every journal) is made of."""

import contextlib
import hashlib
import os
import re
import stat
import tempfile
from typing import Any, Dict, Optional, Tuple

from ..errors import SetupError

TEMP_SUFFIX = '.sva-kunit-tmp'

Owner = Tuple[int, int]  # uid, gid


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_shape(record: Any, shape: Dict[str, type], where: str) -> None:
    if not isinstance(record, dict):
        raise ValueError(f'{where}: not a JSON object')
    for key, kind in shape.items():
        value = record.get(key)
        if not isinstance(value, kind) or (
                kind is list and not all(isinstance(v, str) for v in value)):
            raise ValueError(f'{where}: "{key}" missing or not a '
                             f'{kind.__name__}')


def tree_path(tree: str, rel: object) -> str:
    """The path of `rel`, read from a manifest or journal anyone could
    have edited: ValueError unless it stays inside the tree, symlinks
    resolved, or uninstall could change a file elsewhere."""
    if (not isinstance(rel, str) or '\0' in rel
            or any(part in ('', '.', '..') for part in rel.split('/'))):
        raise ValueError(f'{rel!r} is not a plain path inside the tree')
    path = os.path.join(tree, *rel.split('/'))
    root = os.path.realpath(tree)
    if not os.path.realpath(path).startswith(root + os.sep):
        raise ValueError(f'{rel!r} leads out of the tree through a symlink')
    return path


def read_file(path: str) -> Optional[Tuple[bytes, int]]:
    """(bytes, permission bits) of a regular file, None if absent."""
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
    found = read_file(path)
    return found and found[0]


def owner_of(path: str) -> Optional[Owner]:
    with contextlib.suppress(OSError):
        st = os.stat(path)
        return st.st_uid, st.st_gid
    return None


def give(path: str, owner: Optional[Owner]) -> None:
    """chown, as far as we may: only root can give a file away."""
    if owner is not None and owner_of(path) != owner:
        with contextlib.suppress(PermissionError):
            os.chown(path, *owner)


def fsync_dir(directory: str) -> None:
    # Makes the directory's entries (a rename, unlink, mkdir) durable.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_temp_files(path: str) -> None:
    """Remove what atomic_write(path, ...) left when it was killed: a
    name with mkstemp()'s 8 random characters, or none (an older
    sva-kunit's)."""
    directory, name = os.path.split(path)
    pattern = re.compile(re.escape(name) + r'(\.[a-z0-9_]{8})?'
                         + re.escape(TEMP_SUFFIX))
    with contextlib.suppress(OSError):
        for tmp in filter(pattern.fullmatch, os.listdir(directory or '.')):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, tmp))


def atomic_write(path: str, data: bytes, mode: int,
                 owner: Optional[Owner] = None) -> None:
    """Replace path by a file of data and mode, owned like the file it
    replaces (or by `owner`), so that root keeps a user's file theirs.
    After a kill or a power cut path is the old file or the new one,
    never a mix; once this returns, the new one stays."""
    owner = owner or owner_of(path)
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=name + '.', suffix=TEMP_SUFFIX,
                               dir=directory or '.')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            give(tmp, owner)
            os.chmod(tmp, mode)  # explicit, so the umask cannot change it,
            # and after chown, which drops set-id bits; then the data and
            # the inode reach the disk before the name points at them.
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory or '.')
