"""Put a mutant, or the schemata of many, into a kernel tree and take it
out again, surviving a kill, with a journal at the tree's top, outside
what the installer manages."""

from typing import Mapping, Tuple

from ..errors import SetupError
from ..tree.fs_journal import (Mutation, atomic_write, read_file, sha256,
                               tree_path)
from .mutants import Mutant, NoApply, mutate

journal_path = Mutation.path


def _source(tree: str, rel: str) -> Tuple[str, bytes, int]:
    """(path, bytes, mode) of a source file mutate may change."""
    try:
        path = tree_path(tree, rel)
    except ValueError as e:
        raise SetupError(f'cannot mutate {rel}: {e}', 'mutate a tree whose '
                         'source files are its own') from None
    found = read_file(path)
    if found is None:
        raise NoApply(f'{rel} does not exist in the tree')
    return (path, *found)


def apply_files(tree: str, files: Mapping[str, bytes]) -> Mutation:
    """Replace each tree-relative file by its bytes, journal first; each
    keeps its mode and owner and gets a new mtime, so make rebuilds it."""
    current = {rel: _source(tree, rel) for rel in files}
    record = Mutation.begin(tree, [(rel, sha256(data))
                                   for rel, data in files.items()])
    try:
        for rel, data in files.items():
            path, _, mode = current[rel]
            atomic_write(path, data, mode)
    except BaseException as e:  # a full disk, Ctrl-C: none stays mutated
        record.rollback()
        if isinstance(e, OSError):
            raise SetupError(f'cannot mutate {rel} ({e.strerror})',
                             'fix that and rerun; the tree was restored'
                             ) from None
        raise
    return record


def apply(tree: str, mutant: Mutant) -> Mutation:
    """Mutate the tree, journal first; NoApply, tree unchanged, on a misfit."""
    original = _source(tree, mutant.file)[1]
    return apply_files(tree, {mutant.file: mutate(original, mutant)})


def restore(tree: str, record: Mutation) -> None:
    """Put the files back; refused if someone else changed one meanwhile."""
    record.rollback()
