"""What install/uninstall is about to change, so that a kill cannot strand
a half-changed tree.

Before the installer's first change, a journal (<tree>/.sva-kunit-install)
records, for every path the plan touches, how it was (absent, a directory,
or a file with its bytes, mode and owner) and what the plan makes of it.
The journal is deleted when the plan is done or rolled back.  If the
process dies in between (a second Ctrl-C, SIGKILL, a power cut), the next
install, uninstall or run finds the journal and puts every path back as
it was -- unless one is neither as it was nor as the plan made it, in
which case it refuses and changes nothing.
"""

import json
import os
import stat
from dataclasses import dataclass
from typing import List, Optional, Sequence, TextIO, Tuple

from ..errors import SetupError
from .fs_journal import (TEMP_SUFFIX, Owner, atomic_write, fsync_dir,
                         fsync_parents, give, owner_of, read_bytes, read_file,
                         remove_temp_files, tree_path)
from .manifest import sha256

JOURNAL_NAME = '.sva-kunit-install'
FORMAT_VERSION = 1
ABSENT, FILE, DIR = 'absent', 'file', 'dir'


@dataclass
class Entry:
    path: str                 # tree-relative, '/'-separated
    before: str               # ABSENT, FILE or DIR
    after: str                # what the plan makes of it
    after_sha256: str = ''    # of the file the plan writes
    data: bytes = b''         # the file before
    mode: int = 0
    owner: Optional[Owner] = None


# (tree-relative path, ABSENT/FILE/DIR afterwards, sha256 of a file's data)
Change = Tuple[str, str, str]


def journal_path(tree: str) -> str:
    return os.path.join(tree, JOURNAL_NAME)


def _kind(path: str) -> str:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return ABSENT
    return DIR if stat.S_ISDIR(mode) else FILE


def _entry(tree: str, change: Change) -> Entry:
    rel, after, after_sha = change
    path = tree_path(tree, rel)
    entry = Entry(rel, _kind(path), after, after_sha)
    if entry.before != ABSENT:
        entry.owner = owner_of(path)
        entry.mode = stat.S_IMODE(os.stat(path).st_mode)
    if entry.before == FILE:
        current = read_file(path)
        assert current is not None
        entry.data = current[0]
    return entry


def _to_json(entries: Sequence[Entry]) -> str:
    # surrogateescape round-trips any bytes through JSON text.
    return json.dumps({'version': FORMAT_VERSION, 'entries': [
        {'path': e.path, 'before': e.before, 'after': e.after,
         'after_sha256': e.after_sha256, 'mode': e.mode,
         'owner': list(e.owner) if e.owner else None,
         'data': e.data.decode('utf-8', 'surrogateescape')}
        for e in entries]}) + '\n'


def _from_json(tree: str, text: str) -> List[Entry]:
    doc = json.loads(text)
    if doc['version'] != FORMAT_VERSION:
        raise ValueError(f'unknown version {doc["version"]!r}')
    entries = []
    for item in doc['entries']:
        owner = item['owner']
        entry = Entry(item['path'], item['before'], item['after'],
                      str(item['after_sha256']),
                      item['data'].encode('utf-8', 'surrogateescape'),
                      int(item['mode']),
                      (int(owner[0]), int(owner[1])) if owner else None)
        tree_path(tree, entry.path)
        if {entry.before, entry.after} - {ABSENT, FILE, DIR}:
            raise ValueError(f'{entry.path}: unknown kind')
        entries.append(entry)
    return entries


def begin(tree: str, changes: Sequence[Change]) -> None:
    """Record how every path of the plan is now; call before changing."""
    entries = [_entry(tree, change) for change in changes]
    atomic_write(journal_path(tree), _to_json(entries).encode(), 0o644)


def finish(tree: str) -> None:
    """The plan is done (or rolled back), durably: forget it."""
    os.unlink(journal_path(tree))
    fsync_dir(tree)


def load(tree: str) -> Optional[List[Entry]]:
    path = journal_path(tree)
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return _from_json(tree, data.decode('utf-8'))
    except (ValueError, KeyError, TypeError, AttributeError,
            IndexError) as e:
        raise SetupError(f'{path}, left by an interrupted sva-kunit install '
                         f'or uninstall, is unreadable ({e})', 'restore the '
                         'tree by hand (e.g. git checkout), then delete that '
                         'file and .sva-kunit-manifest') from None


def _is(path: str, kind: str, data_sha256: str) -> bool:
    if kind != FILE:
        return _kind(path) == kind
    current = read_file(path) if _kind(path) == FILE else None
    return current is not None and sha256(current[0]) == data_sha256


def _check(tree: str, entries: Sequence[Entry]) -> None:
    """Refuse, before any change, what the journal cannot put back."""
    created = {e.path for e in entries if e.before == ABSENT}
    for e in entries:
        path = tree_path(tree, e.path)
        if not (_is(path, e.before, sha256(e.data))
                or _is(path, e.after, e.after_sha256)):
            raise SetupError(f'{path} was changed by someone else after an '
                             'interrupted sva-kunit install or uninstall; '
                             'nothing was repaired', 'restore the tree by '
                             f'hand (e.g. git checkout), then delete '
                             f'{journal_path(tree)} and .sva-kunit-manifest')
        if e.before == ABSENT and _kind(path) == DIR:
            foreign = sorted(
                name for name in os.listdir(path)
                if f'{e.path}/{name}' not in created
                and not name.endswith(TEMP_SUFFIX))
            if foreign:
                raise SetupError(f'{path}, created by an interrupted '
                                 'sva-kunit install, holds files it did not '
                                 f'put there ({", ".join(foreign)}); nothing '
                                 'was repaired', 'move them away and rerun')


def _undo(tree: str, e: Entry) -> None:
    path = tree_path(tree, e.path)
    remove_temp_files(path)  # killed in the middle of a write
    kind = _kind(path)
    if e.before == FILE:
        if (kind != FILE or read_file(path) != (e.data, e.mode)
                or owner_of(path) != e.owner):
            atomic_write(path, e.data, e.mode, e.owner)
    elif e.before == DIR:
        if kind == ABSENT:
            os.mkdir(path)
            if e.owner:
                give(path, e.owner)
            os.chmod(path, e.mode)
    elif kind == DIR:
        os.rmdir(path)
    elif kind == FILE:
        os.unlink(path)


def repair(tree: str, out: Optional[TextIO] = None,
           dry_run: bool = False) -> bool:
    """Undo what an interrupted install or uninstall left half-done;
    whether there was anything to undo."""
    if not dry_run:
        # Killed writing the journal: no change yet.
        remove_temp_files(journal_path(tree))
    entries = load(tree)
    if entries is None:
        return False
    _check(tree, entries)
    if not dry_run:
        for entry in reversed(entries):
            _undo(tree, entry)
        fsync_parents(tree_path(tree, e.path) for e in entries)
        finish(tree)
    if out is not None:
        verb = 'would undo' if dry_run else 'undid'
        out.write(f'sva-kunit: {verb} the half-done changes of an '
                  f'interrupted install or uninstall in {tree}\n')
        out.flush()
    return True
