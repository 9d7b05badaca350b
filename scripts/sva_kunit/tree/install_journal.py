"""The journal (<tree>/.sva-kunit-install) that makes install and
uninstall all or nothing: written before the first change, it says how
every path of the plan was, so a failure, or the next command after a
kill, puts each back."""

import json
import os
import stat
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

from ..errors import SetupError
from .fs_journal import (TEMP_SUFFIX, atomic_write, fsync_dir, give, owner_of,
                         read_bytes, read_file, remove_temp_files, tree_path)
from .manifest import check_shape, sha256

JOURNAL_NAME = '.sva-kunit-install'
FORMAT_VERSION = 1
ABSENT, FILE, DIR = 'absent', 'file', 'dir'
# An entry: a path of the plan as it was ('before', a kind, and a file's
# 'data', surrogate-escaped, 'mode' and 'owner') and what the plan makes
# of it ('after', and a file's 'after_sha256').
Entry = Dict[str, Any]
_ENTRY = {'path': str, 'before': str, 'after': str, 'after_sha256': str,
          'data': str, 'mode': int}
# (tree-relative path, ABSENT/FILE/DIR afterwards, sha256 of a file's data)
Change = Tuple[str, str, str]


def journal_path(tree: str) -> str:
    return os.path.join(tree, JOURNAL_NAME)


def _state(path: str) -> str:
    """ABSENT, DIR, or the sha256 of the file at path."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return ABSENT
    return DIR if stat.S_ISDIR(mode) else sha256(read_bytes(path) or b'')


def _data(entry: Entry) -> bytes:
    # surrogateescape round-trips any bytes through JSON text.
    return entry['data'].encode('utf-8', 'surrogateescape')


def _states(e: Entry) -> Tuple[str, str]:
    """The path's _state() before the plan and after it."""
    before = sha256(_data(e)) if e['before'] == FILE else e['before']
    return before, e['after_sha256'] if e['after'] == FILE else e['after']


class Journal:
    """A plan's paths as they were before it, on disk until finish()."""

    def __init__(self, tree: str, entries: List[Entry]) -> None:
        self.tree = tree
        self.entries = entries

    @classmethod
    def begin(cls, tree: str, changes: Sequence[Change]) -> 'Journal':
        """Record how every path of the plan is now; call before changing.
        ValueError if a path leads out of the tree."""
        entries = []
        for rel, after, after_sha in changes:
            path = tree_path(tree, rel)
            kind = _state(path)
            kind = kind if kind in (ABSENT, DIR) else FILE
            data = read_bytes(path) if kind == FILE else b''
            mode = os.stat(path).st_mode if kind != ABSENT else 0
            entries.append({
                'path': rel, 'before': kind, 'after': after,
                'after_sha256': after_sha, 'mode': stat.S_IMODE(mode),
                'owner': owner_of(path),
                'data': (data or b'').decode('utf-8', 'surrogateescape')})
        text = json.dumps({'version': FORMAT_VERSION, 'entries': entries})
        atomic_write(journal_path(tree), (text + '\n').encode(), 0o644)
        return cls(tree, entries)

    @classmethod
    def load(cls, tree: str) -> Optional['Journal']:
        path = journal_path(tree)
        data = read_bytes(path)
        if data is None:
            return None
        try:
            doc = json.loads(data.decode('utf-8'))
            if doc['version'] != FORMAT_VERSION:
                raise ValueError(f'unknown version {doc["version"]!r}')
            for e in doc['entries']:
                check_shape(e, _ENTRY, 'an entry')
                tree_path(tree, e['path'])
                if {e['before'], e['after']} - {ABSENT, FILE, DIR}:
                    raise ValueError(f'{e["path"]}: unknown kind')
                owner = e['owner']
                e['owner'] = (int(owner[0]), int(owner[1])) if owner else None
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise SetupError(f'{path}, left by an interrupted sva-kunit '
                             f'install or uninstall, is unreadable ({e})',
                             'restore the tree by hand (e.g. git checkout), '
                             'then delete that file and .sva-kunit-manifest'
                             ) from None
        return cls(tree, doc['entries'])

    def check(self) -> None:
        """Refuse, before any change, what the journal cannot put back."""
        created = {e['path'] for e in self.entries if e['before'] == ABSENT}
        for e in self.entries:
            path = tree_path(self.tree, e['path'])
            now = _state(path)
            if now not in _states(e):
                raise SetupError(
                    f'{path} was changed by someone else after an '
                    'interrupted sva-kunit install or uninstall; nothing '
                    'was repaired', 'restore the tree by hand (e.g. git '
                    f'checkout), then delete {journal_path(self.tree)} and '
                    '.sva-kunit-manifest')
            if e['before'] != ABSENT or now != DIR:
                continue
            foreign = sorted(name for name in os.listdir(path)
                             if f'{e["path"]}/{name}' not in created
                             and not name.endswith(TEMP_SUFFIX))
            if foreign:
                raise SetupError(
                    f'{path}, created by an interrupted sva-kunit install, '
                    f'holds files it did not put there ({", ".join(foreign)}'
                    '); nothing was repaired', 'move them away and rerun')

    def rollback(self) -> None:
        """Put every path back as it was, newest change first."""
        for e in reversed(self.entries):
            path = tree_path(self.tree, e['path'])
            remove_temp_files(path)  # killed in the middle of a write
            now = _state(path)
            if e['before'] == FILE:
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
        """The plan is done (or undone), durably: forget it."""
        paths = [tree_path(self.tree, e['path']) for e in self.entries]
        for directory in sorted({os.path.dirname(p) for p in paths}):
            if os.path.isdir(directory):
                fsync_dir(directory)
        os.unlink(journal_path(self.tree))
        fsync_dir(self.tree)


def repair(tree: str, out: Optional[TextIO] = None) -> bool:
    """Undo what an interrupted install or uninstall left half-done;
    whether there was anything to undo."""
    remove_temp_files(journal_path(tree))  # killed writing it: no change
    journal = Journal.load(tree)
    if journal is None:
        return False
    journal.check()
    journal.rollback()
    if out is not None:
        out.write('sva-kunit: undid the half-done changes of an '
                  f'interrupted install or uninstall in {tree}\n')
        out.flush()
    return True
