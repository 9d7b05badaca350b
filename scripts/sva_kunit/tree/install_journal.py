"""The journal that makes a change to the tree all or nothing: written
before the first change, it says how every changed path was, so a
failure, or the next command after a kill, puts each back."""

import json
import os
import stat
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import SetupError
from .fs_journal import (TEMP_SUFFIX, atomic_write, check_shape, fsync_dir,
                         give, owner_of, read_bytes, read_file,
                         remove_temp_files, sha256, tree_path)

JOURNAL_FORMAT = 2
# A path's state: ABSENT, DIR, or the sha256 of the file there.
ABSENT, FILE, DIR = 'absent', 'file', 'dir'
# An entry: a path as it was ('before', a kind, and a file's 'data',
# surrogate-escaped, 'mode' and 'owner'), and its state 'after'.
Entry = Dict[str, Any]
_ENTRY = {'path': str, 'before': str, 'after': str, 'data': str,
          'mode': int}


def _state(path: str) -> str:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return ABSENT
    return DIR if stat.S_ISDIR(mode) else sha256(read_bytes(path) or b'')


def _data(entry: Entry) -> bytes:
    # surrogateescape round-trips any bytes through JSON text.
    return entry['data'].encode('utf-8', 'surrogateescape')


@dataclass
class Journal:
    """Paths as they were before a change, on disk until finish();
    a subclass names another file and the command it is for."""
    NAME = '.sva-kunit-install'
    LABEL = 'install or uninstall'
    ALSO_DELETE = ' and .sva-kunit-manifest'
    tree: str
    entries: List[Entry]

    @classmethod
    def path(cls, tree: str) -> str:
        return os.path.join(tree, cls.NAME)

    @classmethod
    def _by_hand(cls, tree: str) -> str:
        return ('restore the tree by hand (e.g. git checkout; the journal '
                f'holds the originals), then delete {cls.path(tree)}'
                + cls.ALSO_DELETE)

    @classmethod
    def begin(cls, tree: str,
              changes: Sequence[Tuple[str, str]]) -> 'Journal':
        """Record how each (path, state afterwards) is now; call before
        changing.  ValueError if a path leads out of the tree."""
        entries = []
        for rel, after in changes:
            path = tree_path(tree, rel)
            kind = _state(path)
            kind = kind if kind in (ABSENT, DIR) else FILE
            data = read_bytes(path) if kind == FILE else b''
            mode = os.stat(path).st_mode if kind != ABSENT else 0
            entries.append({
                'path': rel, 'before': kind, 'after': after,
                'mode': stat.S_IMODE(mode), 'owner': owner_of(path),
                'data': (data or b'').decode('utf-8', 'surrogateescape')})
        text = json.dumps({'version': JOURNAL_FORMAT, 'entries': entries})
        atomic_write(cls.path(tree), (text + '\n').encode(), 0o644)
        return cls(tree, entries)

    @classmethod
    def load(cls, tree: str) -> Optional['Journal']:
        path = cls.path(tree)
        data = read_bytes(path)
        if data is None:
            return None
        try:
            doc = json.loads(data.decode('utf-8'))
            if doc['version'] != JOURNAL_FORMAT:
                raise ValueError(f'unknown version {doc["version"]!r}')
            if not doc['entries']:
                raise ValueError('no entries')
            for e in doc['entries']:
                check_shape(e, _ENTRY, 'an entry')
                tree_path(tree, e['path'])
                if e['before'] not in (ABSENT, FILE, DIR):
                    raise ValueError(f'{e["path"]}: unknown kind')
                owner = e['owner']
                e['owner'] = (int(owner[0]), int(owner[1])) if owner else None
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise SetupError(f'{path}, left by an interrupted sva-kunit '
                             f'{cls.LABEL}, is unreadable ({e})',
                             cls._by_hand(tree)) from None
        return cls(tree, doc['entries'])

    def check(self) -> None:
        """Refuse, before any change, what the journal cannot put back."""
        created = {e['path'] for e in self.entries if e['before'] == ABSENT}
        for e in self.entries:
            path = tree_path(self.tree, e['path'])
            now = _state(path)
            before = sha256(_data(e)) if e['before'] == FILE else e['before']
            if now not in (before, e['after']):
                raise SetupError(
                    f'{path} was changed by someone else during sva-kunit '
                    f'{self.LABEL}; it was left as it is and nothing was '
                    'repaired', self._by_hand(self.tree))
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

    def rollback(self) -> None:
        """Put every path back as it was, newest change first."""
        for e in reversed(self.entries):
            path = tree_path(self.tree, e['path'])
            remove_temp_files(path)  # killed in the middle of a write
            now = _state(path)
            if e['before'] == FILE:
                # Deliberately a new mtime: the restored file must be
                # newer than what make built from the changed one.
                if (now == DIR or read_file(path) != (_data(e), e['mode'])
                        or owner_of(path) != e['owner']):
                    atomic_write(path, _data(e), e['mode'], e['owner'])
            elif e['before'] == DIR:
                if now == ABSENT:
                    os.mkdir(path)
                    give(path, e['owner'])
                    os.chmod(path, e['mode'])
            elif now == DIR:
                os.rmdir(path)
            elif now != ABSENT:
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

    @classmethod
    def repair(cls, tree: str, dry_run: bool = False) -> Optional['Journal']:
        """Undo what an interrupted command left half-done (with dry_run,
        only check that it can be); the journal, None if there was none."""
        if not dry_run:
            remove_temp_files(cls.path(tree))  # killed writing it
        journal = cls.load(tree)
        if journal is not None:
            journal.check()
            if not dry_run:
                journal.rollback()
        return journal


def journal_path(tree: str) -> str:
    return Journal.path(tree)
