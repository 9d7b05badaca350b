"""Put a mutant into a kernel tree and take it out again, surviving a kill,
with a journal at the tree's top, outside what the installer manages."""

from typing import Optional, TextIO

from ..errors import SetupError
from ..tree.fs_journal import (Journal, atomic_write, read_file, sha256,
                               tree_path)
from .mutants import Mutant, NoApply, mutate


class Mutation(Journal):
    NAME = '.sva-kunit-mutation'
    LABEL = 'mutate'
    BY_HAND = ('restore the file by hand (e.g. git checkout; the journal '
               'holds the original), then delete .sva-kunit-mutation')


journal_path = Mutation.path


def apply(tree: str, mutant: Mutant) -> Mutation:
    """Mutate the tree, journal first; NoApply, tree unchanged, on a misfit."""
    try:
        path = tree_path(tree, mutant.file)
    except ValueError as e:
        raise SetupError(f'cannot mutate {mutant.file}: {e}', 'mutate a '
                         'tree whose source files are its own') from None
    current = read_file(path)
    if current is None:
        raise NoApply(f'{mutant.file} does not exist in the tree')
    mutated = mutate(current[0], mutant)
    record = Mutation.begin(tree, [(mutant.file, sha256(mutated))])
    # The rewrite gives the file a new mtime, so make rebuilds its object.
    atomic_write(path, mutated, current[1])
    return record


def restore(tree: str, record: Mutation) -> None:
    """Put the file back; refused if someone else changed it meanwhile."""
    record.rollback()


def repair(tree: str, out: TextIO, dry_run: bool = False) -> Optional[str]:
    """Undo a mutation an interrupted `mutate` left; the file, or None."""
    record = Mutation.repair(tree, dry_run)
    if record is None:
        return None
    rel = record.entries[0]['path']
    out.write(f'sva-kunit: {"would repair" if dry_run else "repaired"} '
              f'{rel} left mutated by an interrupted mutate run\n')
    out.flush()
    return rel
