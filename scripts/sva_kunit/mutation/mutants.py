"""The mutant catalogue (mutants/NN-name.mutant): parse it, and apply a
mutant's hunks to a file's bytes.

A .mutant file is "Key: value" header lines (Name, Trees, Invariant,
File, Description, optional Fix and Survivor), then one or more hunks:

    @@ find
    <text that must occur exactly once in the file>
    @@ replace
    <its replacement>

Hunk text is everything between the marker lines, verbatim, trailing
newlines included; the last replacement runs to the end of the file.

Trees names the Debian kernel sources (6.12, 7.3) whose code the hunks
fit.  Where the code differs, one mutant has a file per tree:
NN-name.mutant and NN-name.7.3.mutant, same Name, disjoint Trees.
Nothing here touches a kernel tree: mutation_journal.py does that.
"""

import os
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

from ..errors import SetupError

CATALOGUE_DIR = 'mutants'
SUFFIX = '.mutant'
FIND_MARKER = '@@ find'
REPLACE_MARKER = '@@ replace'
REQUIRED_KEYS = ('Name', 'Trees', 'Invariant', 'File', 'Description')
OPTIONAL_KEYS = ('Fix', 'Survivor')
FILE_NAME = re.compile(r'^\d+-([a-z0-9-]+)(?:\.(\d+\.\d+))?\.mutant$')
TREE = re.compile(r'^\d+\.\d+$')
INVARIANT = re.compile(r'^I\d+$')
HEADER = re.compile(r'^([A-Za-z]+): ?(.*)$')


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
    source: str = ''         # the .mutant file it was read from
    trees: Tuple[str, ...] = ()  # the Debian sources it is written for

    @property
    def known_survivor(self) -> bool:
        return bool(self.survivor)


class NoApply(Exception):
    """The mutant does not fit the file (a find text not there exactly
    once); nothing was changed."""


def _lines(text: str) -> List[str]:
    # Not str.splitlines(): it also splits at form feeds and other
    # characters that kernel sources may contain inside a line.
    parts = text.split('\n')
    lines = [part + '\n' for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _marker(line: str) -> str:
    stripped = line.rstrip('\n')
    return stripped if stripped in (FIND_MARKER, REPLACE_MARKER) else ''


def _error(source: str, line_no: int, problem: str) -> SetupError:
    return SetupError(f'{source}:{line_no}: {problem}',
                      'fix the mutant file (format: see '
                      'scripts/sva_kunit/mutation/mutants.py)')


def _check_path(source: str, rel: str) -> None:
    parts = rel.split('/')
    if (not rel or rel.startswith('/') or '\\' in rel
            or any(p in ('', '.', '..') for p in parts)):
        raise _error(source, 1, f'File: {rel!r} is not a plain path '
                     'relative to the kernel tree')


def _parse_header(lines: List[str], source: str) -> Tuple[Dict[str, str],
                                                           int]:
    """The header keys, and the index of the first hunk's marker line."""
    header: Dict[str, str] = {}
    for i, line in enumerate(lines):
        if _marker(line):
            return header, i
        text = line.rstrip('\n')
        if not text.strip():
            continue
        match = HEADER.match(text)
        if not match or match.group(1) not in REQUIRED_KEYS + OPTIONAL_KEYS:
            raise _error(source, i + 1, f'{text!r} is not a header line '
                         f'({", ".join(REQUIRED_KEYS + OPTIONAL_KEYS)})')
        key, value = match.group(1), match.group(2).strip()
        if key in header:
            raise _error(source, i + 1, f'{key}: given twice')
        header[key] = value
    raise _error(source, len(lines), f'no hunk (a "{FIND_MARKER}" line)')


def _parse_hunks(lines: List[str], start: int, source: str
                 ) -> Tuple[Hunk, ...]:
    hunks: List[Hunk] = []
    i = start
    while i < len(lines):
        if _marker(lines[i]) != FIND_MARKER:
            raise _error(source, i + 1, f'expected "{FIND_MARKER}"')
        find_start = i + 1
        i = find_start
        while i < len(lines) and not _marker(lines[i]):
            i += 1
        if i == len(lines) or _marker(lines[i]) != REPLACE_MARKER:
            raise _error(source, i + 1 if i < len(lines) else i,
                         f'hunk {len(hunks) + 1} has no "{REPLACE_MARKER}"')
        find = ''.join(lines[find_start:i])
        if not find:
            raise _error(source, i + 1, f'hunk {len(hunks) + 1} finds '
                         'nothing')
        replace_start = i + 1
        i = replace_start
        while i < len(lines) and _marker(lines[i]) != FIND_MARKER:
            if _marker(lines[i]) == REPLACE_MARKER:
                raise _error(source, i + 1, f'second "{REPLACE_MARKER}" in '
                             f'hunk {len(hunks) + 1}')
            i += 1
        hunks.append(Hunk(find, ''.join(lines[replace_start:i])))
    return tuple(hunks)


def parse_mutant(text: str, source: str) -> Mutant:
    """One .mutant file's text; source names it in error messages."""
    lines = _lines(text)
    header, first_hunk = _parse_header(lines, source)
    missing = [k for k in REQUIRED_KEYS if not header.get(k)]
    if missing:
        raise _error(source, 1, 'missing header ' + ', '.join(
            f'{k}:' for k in missing))
    invariants = tuple(i.strip() for i in header['Invariant'].split(','))
    bad = [i for i in invariants if not INVARIANT.match(i)]
    if bad:
        raise _error(source, 1, f'Invariant: {bad[0]!r} is not of the '
                     'form I<number>')
    trees = tuple(header['Trees'].split())
    bad = [t for t in trees if not TREE.match(t)]
    if bad:
        raise _error(source, 1, f'Trees: {bad[0]!r} is not a kernel '
                     'series like 7.3')
    _check_path(source, header['File'])
    return Mutant(name=header['Name'], invariants=invariants,
                  file=header['File'], description=header['Description'],
                  hunks=_parse_hunks(lines, first_hunk, source),
                  fix=header.get('Fix', ''),
                  survivor=header.get('Survivor', ''), source=source,
                  trees=trees)


def catalogue_dir(repo_root: str) -> str:
    return os.path.join(repo_root, CATALOGUE_DIR)


def load_catalogue(repo_root: str, tree: str = '') -> List[Mutant]:
    """Every mutant written for `tree` (every file, if ''), in file name
    order; SetupError if any file is malformed."""
    directory = catalogue_dir(repo_root)
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(SUFFIX))
    except OSError as e:
        raise SetupError(f'cannot read the mutant catalogue {directory} '
                         f'({e.strerror})', 'run sva-kunit from its '
                         'repository checkout') from None
    if not names:
        raise SetupError(f'no *{SUFFIX} files in {directory}',
                         'run sva-kunit from its repository checkout')
    mutants: List[Mutant] = []
    seen: Dict[str, str] = {}
    for file_name in names:
        path = os.path.join(directory, file_name)
        source = os.path.join(CATALOGUE_DIR, file_name)
        # newline='': keep the bytes' line ends, so hunks stay verbatim.
        with open(path, encoding='utf-8', newline='') as f:
            mutant = parse_mutant(f.read(), source)
        match = FILE_NAME.match(file_name)
        if not match or match.group(1) != mutant.name:
            raise _error(source, 1, f'Name: {mutant.name} does not match '
                         'the file name (NN-<name>[.<tree>].mutant)')
        if match.group(2) and mutant.trees != (match.group(2),):
            raise _error(source, 1, f'Trees: must be just {match.group(2)}'
                         ', as the file name says')
        for series in mutant.trees:
            key = f'{mutant.name} on {series}'
            if key in seen:
                raise _error(source, 1, f'Name: {key} is also in '
                             f'{seen[key]}')
            seen[key] = source
        if not tree or tree in mutant.trees:
            mutants.append(mutant)
    return mutants


def _fits(mutant: Mutant, read: Callable[[str], bytes]) -> bool:
    try:
        mutate(read(mutant.file), mutant)
    except (NoApply, OSError):
        return False
    return True


def fitting(catalogue: Sequence[Mutant],
            read: Callable[[str], bytes]) -> List[Mutant]:
    """For a tree that is none of the catalogue's Debian sources: of each
    mutant, the variant whose hunks fit the tree's files (read(path) gives
    a file's bytes); where none fits, the first, which will then be
    reported as not applying."""
    chosen: Dict[str, Mutant] = {}
    for mutant in catalogue:
        if mutant.name not in chosen or (
                not _fits(chosen[mutant.name], read)
                and _fits(mutant, read)):
            chosen[mutant.name] = mutant
    return list(chosen.values())


def select(catalogue: Sequence[Mutant], only: Sequence[str]) -> List[Mutant]:
    """The mutants named in only (catalogue order), or all of them."""
    if not only:
        return list(catalogue)
    known = {m.name for m in catalogue}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise SetupError(f'no mutant named {unknown[0]}',
                         'see sva-kunit mutate --list')
    wanted = set(only)
    return [m for m in catalogue if m.name in wanted]


def mutate(original: bytes, mutant: Mutant) -> bytes:
    """The file's bytes with every hunk applied, in order.

    Raises NoApply, having changed nothing, unless each find text occurs
    exactly once in the text the hunks before it left.
    """
    data = original
    for number, hunk in enumerate(mutant.hunks, start=1):
        find = hunk.find.encode('utf-8')
        first = data.find(find)
        count = 0 if first < 0 else (1 if data.find(find, first + 1) < 0
                                     else 2)
        if count != 1:
            what = 'not found' if count == 0 else 'found more than once'
            first_line = hunk.find.strip().split('\n')[0]
            raise NoApply(f'hunk {number} of {len(mutant.hunks)} ('
                          f'{first_line!r}) {what} in {mutant.file}')
        data = (data[:first] + hunk.replace.encode('utf-8')
                + data[first + len(find):])
    return data
