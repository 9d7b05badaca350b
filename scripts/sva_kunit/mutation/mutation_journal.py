"""Put a mutant into a kernel tree and take it out again, surviving crashes.

Before a source file is mutated, a journal (<tree>/.sva-kunit-mutation)
records its original bytes and mode and the hash of the mutated bytes;
restoring deletes it.  If `mutate` dies in between, the next command that
uses the tree repairs the file, unless someone edited it since: then it
refuses and changes nothing.  The journal sits at the tree's top, outside
every directory the installer manages.
"""

import json
import os
from dataclasses import dataclass
from typing import Optional, TextIO, Tuple

from ..errors import SetupError
from ..tree.fs_journal import (atomic_write, fsync_dir, read_file,
                               remove_temp_files, tree_path)
from ..tree.manifest import sha256
from .mutants import Mutant, NoApply, mutate

JOURNAL_NAME = '.sva-kunit-mutation'
FORMAT_VERSION = 1


@dataclass
class Mutation:
    path: str                 # tree-relative, '/'-separated
    original: bytes
    mode: int
    mutated_sha256: str
    mutant: str = ''

    def to_json(self) -> str:
        # surrogateescape round-trips any bytes through JSON text, so the
        # restore is byte-exact even for a file that is not valid UTF-8.
        return json.dumps({
            'version': FORMAT_VERSION, 'mutant': self.mutant,
            'file': self.path,
            'original': self.original.decode('utf-8', 'surrogateescape'),
            'mode': self.mode, 'original_sha256': sha256(self.original),
            'mutated_sha256': self.mutated_sha256}, indent=1) + '\n'


def journal_path(tree: str) -> str:
    return os.path.join(tree, JOURNAL_NAME)


def apply(tree: str, mutant: Mutant) -> Mutation:
    """Mutate the tree, the journal written first; NoApply (tree
    unchanged) if the mutant does not fit."""
    path = os.path.join(tree, *mutant.file.split('/'))
    current = read_file(path)
    if current is None:
        raise NoApply(f'{mutant.file} does not exist in the tree')
    original, mode = current
    mutated = mutate(original, mutant)
    record = Mutation(mutant.file, original, mode, sha256(mutated),
                      mutant.name)
    atomic_write(journal_path(tree), record.to_json().encode(), 0o644)
    # The rewrite gives the file a new mtime, so make rebuilds its object.
    atomic_write(path, mutated, mode)
    return record


def _check_ours(tree: str, record: Mutation) -> Tuple[str, Tuple[bytes,
                                                                 int]]:
    """The file's path and (bytes, mode) if it is the mutant or the
    original: someone else's edit is not ours to overwrite."""
    path = os.path.join(tree, *record.path.split('/'))
    current = read_file(path)
    if current is None or sha256(current[0]) not in (
            record.mutated_sha256, sha256(record.original)):
        raise SetupError(f'{path} was changed by someone else while '
                         'sva-kunit mutate had it mutated; it was left as '
                         'it is', 'restore it by hand (its original is the '
                         f'"original" field of {journal_path(tree)}), then '
                         'delete that journal')
    return path, current


def restore(tree: str, record: Mutation) -> None:
    """Put back the original bytes and mode, then drop the journal."""
    path, current = _check_ours(tree, record)
    if current != (record.original, record.mode):
        # Deliberately NOT the old mtime: the restored file must be newer
        # than the object built from the mutant, or make would keep
        # linking the mutant's code into every later run.
        atomic_write(path, record.original, record.mode)
    remove_temp_files(path)  # left if killed mid-write
    os.unlink(journal_path(tree))
    fsync_dir(tree)


def _load(tree: str) -> Optional[Mutation]:
    found = read_file(journal_path(tree))
    if found is None:
        return None
    try:
        data = json.loads(found[0].decode('utf-8'))
        if data.get('version') != FORMAT_VERSION:
            raise ValueError(f'unknown version {data.get("version")!r}')
        original = data['original'].encode('utf-8', 'surrogateescape')
        if sha256(original) != data['original_sha256']:
            raise ValueError('the recorded original does not match its hash')
        tree_path(tree, data['file'])
        return Mutation(data['file'], original, int(data['mode']),
                        str(data['mutated_sha256']),
                        str(data.get('mutant', '')))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SetupError(f'{journal_path(tree)}, left by an interrupted '
                         f'sva-kunit mutate, is unreadable ({e})', 'check '
                         'the file it names against a clean tree (e.g. git '
                         'diff), restore it, then delete the journal'
                         ) from None


def repair(tree: str, out: TextIO, dry_run: bool = False) -> Optional[str]:
    """Undo a mutation an interrupted `mutate` left; the file, or None."""
    if not dry_run:
        # A crash while writing the journal: the source was not touched.
        remove_temp_files(journal_path(tree))
    record = _load(tree)
    if record is None:
        return None
    if dry_run:
        _check_ours(tree, record)
    else:
        restore(tree, record)
    out.write(f'sva-kunit: {"would repair" if dry_run else "repaired"} '
              f'{record.path} left mutated by an interrupted mutate run\n')
    out.flush()
    return record.path
