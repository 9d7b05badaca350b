"""The mutant catalogue, mutants/*.mutant (format: mutants/README), the
correct variants beside it, variants/*.variant (same format: changes to
the core that the design allows, which the suite must pass), and applying
either to a file's bytes."""

import glob
import os
import re
from dataclasses import dataclass, replace
from typing import Dict, List, Sequence, Tuple

from ..errors import SetupError

CATALOGUE_DIR = 'mutants'
VARIANTS_DIR = 'variants'  # its files end in .variant, not .mutant
RIG_DIR = 'drivers/iommu/fake-iommu/'  # the test rig's files, not the core's
KEYS = ('Name', 'Trees', 'Invariant', 'File', 'Description', 'Fix',
        'Survivor', 'Cpus')  # all but the last three required
FILE_NAME = re.compile(
    r'^\d+-([a-z0-9-]+)(?:\.(\d+\.\d+))?\.(mutant|variant)$')
# re.M breaks lines at '\n' only, not at the form feeds and other
# characters that kernel sources may contain inside a line.
MARKER = re.compile(r'^@@ (find|replace)(?:\n|\Z)', re.M)


@dataclass(frozen=True)
class Hunk:
    find: str
    replace: str


@dataclass(frozen=True)
class Mutant:
    name: str
    invariants: Tuple[str, ...]
    file: str                # tree-relative, '/'-separated
    description: str
    hunks: Tuple[Hunk, ...]
    fix: str = ''            # the upstream commit it re-creates, if any
    survivor: str = ''       # why it is a known survivor; '' if it is not
    trees: Tuple[str, ...] = ()  # the Debian sources it is written for
    # 2 for a race that only threads on two CPUs at once can show: its
    # boot has two (RunOptions.smp).
    cpus: int = 1
    # A correct variant (variants/): a choice the design leaves open, made
    # differently; the suite must pass with it in.
    correct: bool = False

    @property
    def rig(self) -> bool:
        """A mutant of the fake driver: it tests the test rig, not the
        core, and is reported apart."""
        return self.file.startswith(RIG_DIR)


class NoApply(Exception):
    """The mutant does not fit the file; nothing was changed."""


def _error(source: str, line_no: int, problem: str) -> SetupError:
    return SetupError(f'{source}:{line_no}: {problem}',
                      'fix the mutant file (format: see mutants/README)')


def parse_mutant(text: str, source: str) -> Mutant:
    """One .mutant file's text; source names it in error messages."""
    header_text, *parts = MARKER.split(text)  # then: kind, text, ...
    header: Dict[str, str] = {}
    for line_no, line in enumerate(header_text.split('\n'), start=1):
        key, colon, value = line.partition(':')
        if not line.strip():
            continue
        if not colon or key not in KEYS:
            raise _error(source, line_no, f'{line!r} is not a header line '
                         f'({", ".join(KEYS)})')
        if key in header:
            raise _error(source, line_no, f'{key}: given twice')
        header[key] = value.strip()
    missing = [f'{k}:' for k in KEYS[:5] if not header.get(k)]
    if missing:
        raise _error(source, 1, 'missing header ' + ', '.join(missing))
    kinds, texts = parts[0::2], parts[1::2]
    line = header_text.count('\n') + 1  # of each marker in turn
    for i, (kind, body) in enumerate(zip(kinds, texts)):
        want = ('find', 'replace')[i % 2]
        if kind != want:
            raise _error(source, line, f'"@@ {kind}" where hunk '
                         f'{i // 2 + 1} needs "@@ {want}"')
        if kind == 'find' and not body:
            raise _error(source, line, f'hunk {i // 2 + 1} finds nothing')
        line += 1 + body.count('\n')
    if not kinds or len(kinds) % 2:
        raise _error(source, line, f'hunk {len(kinds) // 2 + 1} has no '
                     '"@@ replace"' if kinds else 'no hunk (a "@@ find" line)')
    invariants = tuple(i.strip() for i in header['Invariant'].split(','))
    trees = tuple(header['Trees'].split())
    for key, values, pattern, what in (
            ('Invariant', invariants, r'I\d+', 'of the form I<number>'),
            ('Trees', trees, r'\d+\.\d+', 'a kernel series like 7.3')):
        bad = [v for v in values if not re.fullmatch(pattern, v)]
        if bad:
            raise _error(source, 1, f'{key}: {bad[0]!r} is not {what}')
    cpus = header.get('Cpus', '1')
    if cpus not in ('1', '2'):
        raise _error(source, 1, f'Cpus: {cpus!r} is not 1 or 2')
    rel = header['File']
    if (rel.startswith('/') or '\\' in rel
            or {'', '.', '..'} & set(rel.split('/'))):
        raise _error(source, 1, f'File: {rel!r} is not a plain path '
                     'relative to the kernel tree')
    return Mutant(header['Name'], invariants, rel, header['Description'],
                  tuple(map(Hunk, texts[0::2], texts[1::2])),
                  header.get('Fix', ''),
                  header.get('Survivor', ''), trees, cpus=int(cpus))


def _catalogue_files(repo_root: str) -> List[Tuple[str, bool]]:
    """(path relative to repo_root, correct) of every catalogue file:
    the mutants, then the correct variants, each in file name order."""
    files = []
    for directory, suffix, correct in ((CATALOGUE_DIR, 'mutant', False),
                                       (VARIANTS_DIR, 'variant', True)):
        pattern = os.path.join(repo_root, directory, '*.' + suffix)
        names = sorted(map(os.path.basename, glob.glob(pattern)))
        if not names and not correct:  # a checkout without variants/
            raise SetupError(f'no *.{suffix} files in '
                             f'{os.path.dirname(pattern)}',
                             'run sva-kunit from its repository checkout')
        files += [(os.path.join(directory, n), correct) for n in names]
    return files


def load_catalogue(repo_root: str, tree: str = '') -> List[Mutant]:
    """The mutants and correct variants written for tree (all, if ''),
    in file name order."""
    mutants: List[Mutant] = []
    seen: Dict[str, str] = {}
    for source, correct in _catalogue_files(repo_root):
        file_name = os.path.basename(source)
        # newline='': keep the bytes' line ends, so hunks stay verbatim.
        with open(os.path.join(repo_root, source), encoding='utf-8',
                  newline='') as f:
            mutant = replace(parse_mutant(f.read(), source), correct=correct)
        match = FILE_NAME.match(file_name)
        suffix = 'variant' if correct else 'mutant'
        if not match or match.group(1) != mutant.name:
            raise _error(source, 1, f'Name: {mutant.name} does not match '
                         f'the file name (NN-<name>[.<tree>].{suffix})')
        if match.group(2) and mutant.trees != (match.group(2),):
            raise _error(source, 1, f'Trees: must be just {match.group(2)}'
                         ', as the file name says')
        for key in (f'{mutant.name} on {series}' for series in mutant.trees):
            if key in seen:
                raise _error(source, 1, f'Name: {key} is also in '
                             f'{seen[key]}')
            seen[key] = source
        if not tree or tree in mutant.trees:
            mutants.append(mutant)
    return mutants


def fitting(catalogue: Sequence[Mutant], tree: str) -> List[Mutant]:
    """Of each mutant, the variant whose hunks fit the tree; where none
    fits, the first (reported as not applying)."""
    def fits(mutant: Mutant) -> bool:
        try:
            with open(os.path.join(tree, mutant.file), 'rb') as f:
                mutate(f.read(), mutant)
        except (NoApply, OSError):
            return False
        return True

    chosen: Dict[str, Mutant] = {}
    for m in catalogue:
        if m.name not in chosen or (not fits(chosen[m.name]) and fits(m)):
            chosen[m.name] = m
    return list(chosen.values())


def select(catalogue: Sequence[Mutant], only: Sequence[str]) -> List[Mutant]:
    """The mutants named in only (catalogue order), or all of them."""
    known = {m.name for m in catalogue}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise SetupError(f'no mutant named {unknown[0]}',
                         'see sva-kunit mutate --list')
    return [m for m in catalogue if not only or m.name in only]


def mutate(original: bytes, mutant: Mutant) -> bytes:
    """Every hunk applied in order; NoApply unless each find text occurs
    exactly once in the text the hunks before it left."""
    data = original
    for number, hunk in enumerate(mutant.hunks, start=1):
        find = hunk.find.encode('utf-8')
        first = data.find(find)
        if first < 0 or data.find(find, first + 1) >= 0:
            what = 'not found' if first < 0 else 'found more than once'
            first_line = hunk.find.strip().split('\n')[0]
            raise NoApply(f'hunk {number} of {len(mutant.hunks)} ('
                          f'{first_line!r}) {what} in {mutant.file}')
        data = (data[:first] + hunk.replace.encode('utf-8')
                + data[first + len(find):])
    return data
