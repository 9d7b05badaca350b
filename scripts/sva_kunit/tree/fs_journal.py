"""The atomic, durable write that every change to the tree is made of,
and the journal that puts each path back after a failure or a kill."""

import contextlib
import hashlib
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

from ..errors import SetupError

TEMP_SUFFIX = '.sva-kunit-tmp'
# What sva-kunit ever puts into a tree (whatever its version), the files
# its hooks edit, and the sources mutants change: the only paths a
# manifest or journal, which anyone could edit, may make it write or
# delete.  A kernel's own file never matches INSTALLED.
INSTALLED = re.compile(r'drivers/iommu/(fake-iommu(/.+)?|iommu-sva[\w-]*-test'
                       r'\.c|\.kunitconfig)|tools/testing/kunit/configs'
                       r'(/iommu_sva[\w-]*\.config)?')
HOOKED = ('drivers/iommu/Kconfig', 'drivers/iommu/Makefile')
MANIFEST_NAME = '.sva-kunit-manifest'
# The core's files, and the fake driver's (its mutants test the test rig).
MUTATED = re.compile(r'(drivers/iommu|kernel)/[\w.-]+\.c'
                     r'|drivers/iommu/fake-iommu/fake-iommu\.c')
# A path's state: ABSENT, DIR, or the sha256 of the file there.
ABSENT, DIR = 'absent', 'dir'
_SHA256 = re.compile(r'[0-9a-f]{64}')
_ENTRY = {'path': str, 'before': str, 'after': str, 'data': str, 'mode': int}
# A journal holds the files it may restore: the suite's, a hooked Kconfig
# or Makefile, a mutated iommu.c (hundreds of kB).
JOURNAL_LIMIT = 64 << 20


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_shape(record: Any, shape: Dict[str, type], where: str) -> None:
    if not isinstance(record, dict):
        raise ValueError(f'{where}: not a JSON object')
    for key, kind in shape.items():
        value = record.get(key)
        # JSON's true is no number, though Python's bool is an int.
        if not isinstance(value, kind) or (
                kind is int and isinstance(value, bool)) or (
                kind is list and not all(isinstance(v, str) for v in value)):
            raise ValueError(f'{where}: "{key}" missing or not a '
                             f'{kind.__name__}')


def read_json(path: str, limit: int) -> Any:
    """The JSON document in path (None if there is none): ValueError for
    one larger than limit bytes, not UTF-8, not JSON, or nested beyond
    what the parser's recursion takes (a file anyone could edit)."""
    if os.path.islink(path):  # dangling or not: never ours
        raise ValueError('a symlink')
    with contextlib.suppress(FileNotFoundError):
        if os.stat(path).st_size > limit:
            raise ValueError(f'larger than {limit} bytes')
    data = read_bytes(path)
    if data is None:
        return None
    try:
        doc = json.loads(data.decode('utf-8'))
    except RecursionError:
        raise ValueError('nested too deeply') from None
    if doc is None:
        raise ValueError('null')
    return doc


def file_mode(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (
            0 <= value <= 0o7777):
        raise ValueError(f'{where}: bad mode {value!r}')
    return value


def file_owner(value: Any, where: str) -> Optional[Tuple[int, int]]:
    """(uid, gid) from a journal's [uid, gid], or None (not recorded)."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool)
            and 0 <= v < 1 << 32 for v in value)):
        raise ValueError(f'{where}: bad owner {value!r}')
    return value[0], value[1]


def tree_path(tree: str, rel: object) -> str:
    """The path of `rel`, from a manifest or journal anyone could edit:
    ValueError unless it stays inside the tree, symlinks resolved."""
    if (not isinstance(rel, str) or '\0' in rel
            or any(part in ('', '.', '..') for part in rel.split('/'))):
        raise ValueError(f'{rel!r} is not a plain path inside the tree')
    path = os.path.join(tree, *rel.split('/'))
    if not os.path.realpath(path).startswith(os.path.realpath(tree) + '/'):
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


def owner_of(path: str) -> Optional[Tuple[int, int]]:  # uid, gid
    with contextlib.suppress(OSError):
        st = os.stat(path)
        return st.st_uid, st.st_gid
    return None


def give(path: str, owner: Optional[Tuple[int, int]]) -> None:
    """chown, as far as we may: only root can give a file away."""
    if owner is not None:
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
    """Remove what atomic_write(path, ...) left when it was killed."""
    directory, name = os.path.split(path)
    pattern = re.compile(re.escape(name) + r'\.[a-z0-9_]{8}'
                         + re.escape(TEMP_SUFFIX))
    with contextlib.suppress(OSError):
        for tmp in filter(pattern.fullmatch, os.listdir(directory)):
            os.unlink(os.path.join(directory, tmp))


def atomic_write(path: str, data: bytes, mode: int,
                 owner: Optional[Tuple[int, int]] = None) -> None:
    """Replace path by data and mode, owned like the file it replaces (or
    by `owner`): after a kill or a power cut path is the old file or the
    new one, never a mix; once this returns, the new one stays."""
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=name + '.', suffix=TEMP_SUFFIX,
                               dir=directory or '.')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            give(tmp, owner or owner_of(path))
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


def _current_entries(doc: Any) -> List[Dict[str, Any]]:
    """The entries of a journal any version of sva-kunit wrote, in
    today's form, so that the next command still finishes its work:
    today's is a list; install's was {"version": 1 or 2, "entries"},
    with kinds ("file") for states; mutate's one file {"file", ...}."""
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        raise ValueError('not a journal')
    if 'file' in doc:
        return [{'path': doc['file'], 'before': doc['original_sha256'],
                 'after': doc['mutated_sha256'], 'data': doc['original'],
                 'mode': doc['mode'], 'owner': None}]
    if doc.get('version') not in (1, 2) or not isinstance(
            doc.get('entries'), list):
        raise ValueError(f'unknown journal format {doc.get("version")!r}')
    for e in doc['entries']:
        check_shape(e, {'before': str, 'data': str}, 'an entry')
        if e['before'] == 'file':
            e['before'] = sha256(e['data'].encode('utf-8',
                                                   'surrogateescape'))
        if e.get('after') == 'file':  # version 1 kept the hash apart
            e['after'] = e.get('after_sha256')
    return doc['entries']


def _state(path: str) -> str:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return ABSENT
    return DIR if stat.S_ISDIR(mode) else sha256(read_bytes(path) or b'')


@dataclass
class Journal:
    """For each path, its state 'before' and 'after' a change, and a
    file's 'data', 'mode' and 'owner'; on disk until finish()."""
    NAME = '.sva-kunit-install'
    LABEL = 'install or uninstall'
    BY_HAND = ('restore the tree by hand (e.g. git checkout; the journal '
               'holds the originals), then delete .sva-kunit-install and '
               '.sva-kunit-manifest')
    tree: str
    entries: List[Dict[str, Any]]

    @classmethod
    def path(cls, tree: str) -> str:
        return os.path.join(tree, cls.NAME)

    @classmethod
    def begin(cls, tree: str,
              changes: Sequence[Tuple[str, str]]) -> 'Journal':
        """Record how each (path, state afterwards) is now; call before
        changing.  ValueError if a path leads out of the tree."""
        entries = []
        for rel, after in changes:
            path = tree_path(tree, rel)
            before = _state(path)
            mode = os.stat(path).st_mode if before != ABSENT else 0
            entries.append({
                'path': rel, 'before': before, 'after': after,
                'data': b'' if before in (ABSENT, DIR) else read_bytes(path),
                'mode': stat.S_IMODE(mode), 'owner': owner_of(path)})
        # surrogateescape round-trips any bytes through JSON text.
        text = json.dumps(entries, default=lambda data: data.decode(
            'utf-8', 'surrogateescape'))
        atomic_write(cls.path(tree), text.encode(), 0o644)
        return cls(tree, entries)

    @classmethod
    def may_change(cls, tree: str, rel: str) -> bool:
        """Install and uninstall change the suite's files, the manifest
        and the hooked files (or, for one that is a symlink in the tree,
        the file it leads to)."""
        top = os.path.realpath(tree)
        targets = {os.path.relpath(os.path.realpath(os.path.join(tree, h)),
                                   top).replace(os.sep, '/') for h in HOOKED}
        return bool(INSTALLED.fullmatch(rel)) or rel in (
            MANIFEST_NAME, *HOOKED, *targets)

    @classmethod
    def repair(cls, tree: str, dry_run: bool = False) -> Optional['Journal']:
        """Undo what an interrupted command left half-done (with dry_run,
        only check that it can be); the journal, None if there was none."""
        path = cls.path(tree)
        if not dry_run:
            remove_temp_files(path)  # killed writing it
        try:
            doc = read_json(path, JOURNAL_LIMIT)
            if doc is None:
                return None
            entries = _current_entries(doc)
            if not entries:
                raise ValueError('no entries')
            for e in entries:
                check_shape(e, _ENTRY, 'an entry')
                tree_path(tree, e['path'])
                if not cls.may_change(tree, e['path']):
                    raise ValueError(f'{e["path"]}: sva-kunit {cls.LABEL} '
                                     'never changes it')
                e['data'] = e['data'].encode('utf-8', 'surrogateescape')
                if e['before'] not in (ABSENT, DIR, sha256(e['data'])):
                    raise ValueError(f'{e["path"]}: bad state before')
                if not (e['after'] in (ABSENT, DIR)
                        or _SHA256.fullmatch(e['after'])):
                    raise ValueError(f'{e["path"]}: bad state after')
                file_mode(e['mode'], e['path'])
                e['owner'] = file_owner(e.get('owner'), e['path'])
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise SetupError(f'{path}, left by an interrupted sva-kunit '
                             f'{cls.LABEL}, is unreadable ({e})',
                             cls.BY_HAND) from None
        journal = cls(tree, entries)
        journal.rollback(dry_run)
        return journal

    def rollback(self, dry_run: bool = False) -> None:
        """Put every path back as it was, newest change first, once sure
        that it can (with dry_run, only make sure)."""
        created = {e['path'] for e in self.entries if e['before'] == ABSENT}
        for e in self.entries:
            path = tree_path(self.tree, e['path'])
            now = _state(path)
            if now not in (e['before'], e['after']):
                raise SetupError(
                    f'{path} was changed by someone else during sva-kunit '
                    f'{self.LABEL}; it was left as it is and nothing was '
                    'repaired', self.BY_HAND)
            if e['before'] != ABSENT or now != DIR:
                continue
            foreign = sorted(name for name in os.listdir(path)
                             if f'{e["path"]}/{name}' not in created
                             and not name.endswith(TEMP_SUFFIX))
            if foreign:
                raise SetupError(
                    f'{path}, created by an interrupted sva-kunit '
                    f'{self.LABEL}, holds files it did not put there '
                    f'({", ".join(foreign)}); nothing was repaired',
                    'move them away and rerun')
        if dry_run:
            return
        for e in reversed(self.entries):
            path = tree_path(self.tree, e['path'])
            remove_temp_files(path)  # killed in the middle of a write
            now = _state(path)
            if e['before'] not in (ABSENT, DIR):
                # Deliberately a new mtime: the restored file must be
                # newer than what make built from the changed one.
                if (read_file(path) != (e['data'], e['mode'])
                        or owner_of(path) != e['owner']):
                    atomic_write(path, e['data'], e['mode'], e['owner'])
            elif e['before'] == DIR and now == ABSENT:
                os.mkdir(path)
                give(path, e['owner'])
                os.chmod(path, e['mode'])
            elif e['before'] == ABSENT and now == DIR:
                os.rmdir(path)
            elif e['before'] == ABSENT and now != ABSENT:
                os.unlink(path)
        self.finish()

    def finish(self) -> None:
        """The change is done (or undone), durably: forget it."""
        paths = [tree_path(self.tree, e['path']) for e in self.entries]
        for directory in sorted({os.path.dirname(p) for p in paths}):
            if os.path.isdir(directory):
                fsync_dir(directory)
        os.unlink(self.path(self.tree))
        fsync_dir(self.tree)


journal_path = Journal.path


class Mutation(Journal):
    """The source files `mutate` changed (one mutant, or the schemata),
    so that every later command puts them back first."""
    NAME = '.sva-kunit-mutation'
    LABEL = 'mutate'

    @classmethod
    def may_change(cls, tree: str, rel: str) -> bool:
        return bool(MUTATED.fullmatch(rel))
    BY_HAND = ('restore the files by hand (e.g. git checkout; the journal '
               'holds the originals), then delete .sva-kunit-mutation')


def repair_mutation(tree: str, out: TextIO, dry_run: bool = False
                    ) -> List[str]:
    """Undo what an interrupted `mutate` left; the files it put back."""
    record = Mutation.repair(tree, dry_run)
    if record is None:
        return []
    paths = [e['path'] for e in record.entries]
    out.write(f'sva-kunit: {"would repair" if dry_run else "repaired"} '
              f'{", ".join(paths)} left mutated by an interrupted mutate '
              'run\n')
    out.flush()
    return paths
