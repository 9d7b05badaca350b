"""Read the machine's apt sources and write a private one for another suite.

The Debian archive entry is the one whose suites hold the machine's
release codename itself ("bookworm", not "bookworm-security" or
"bookworm-updates"); its URI and keyring serve every other suite of the
same archive, so nothing but the suite name is chosen here.  Both
formats are read: deb822 (*.sources) and one-line (sources.list, *.list).
"""

import glob
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

APT_ETC = '/etc/apt'
OS_RELEASE = '/etc/os-release'
DEFAULT_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg'


@dataclass(frozen=True)
class AptEntry:
    types: Tuple[str, ...]        # deb, deb-src
    uris: Tuple[str, ...]
    suites: Tuple[str, ...]
    components: Tuple[str, ...]
    signed_by: str = ''           # a keyring path, or an embedded key
    origin: str = ''              # the file it came from


@dataclass(frozen=True)
class Archive:
    uri: str
    signed_by: str                # '' when apt's default keyrings apply


class NoArchive(Exception):
    """The machine's apt configuration has no usable Debian archive entry;
    the message says what was looked for, where."""


def _stanzas(text: str) -> List[List[str]]:
    """deb822 paragraphs as lists of lines; comments dropped."""
    stanzas: List[List[str]] = []
    current: List[str] = []
    for line in text.split('\n'):
        if line.startswith('#'):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current = []
            continue
        current.append(line)
    if current:
        stanzas.append(current)
    return stanzas


def _fields(lines: List[str]) -> Dict[str, str]:
    """Field name (lower case) -> value; continuation lines joined by \\n."""
    fields: Dict[str, str] = {}
    key = ''
    for line in lines:
        if line[0] in ' \t':
            if key:
                fields[key] += '\n' + line.strip()
            continue
        name, sep, value = line.partition(':')
        if not sep:
            continue  # not a field; apt would refuse the file
        key = name.strip().lower()
        fields[key] = value.strip()
    return fields


def parse_deb822(text: str, origin: str = '') -> List[AptEntry]:
    entries = []
    for stanza in _stanzas(text):
        fields = _fields(stanza)
        if fields.get('enabled', 'yes').strip().lower() == 'no':
            continue
        entries.append(AptEntry(
            types=tuple(fields.get('types', '').split()),
            uris=tuple(fields.get('uris', '').split()),
            suites=tuple(fields.get('suites', '').split()),
            components=tuple(fields.get('components', '').split()),
            signed_by=fields.get('signed-by', '').rstrip(), origin=origin))
    return entries


def parse_one_line(text: str, origin: str = '') -> List[AptEntry]:
    """`deb [opt=value ...] URI suite [component ...]` lines."""
    entries = []
    for raw in text.split('\n'):
        words = raw.split('#', 1)[0].split()
        if len(words) < 3 or words[0] not in ('deb', 'deb-src'):
            continue
        kind, rest = words[0], words[1:]
        options: Dict[str, str] = {}
        if rest[0].startswith('['):
            # "[a=b c=d]", "[ a=b ]": everything up to the closing bracket.
            inside: List[str] = []
            while rest:
                word = rest.pop(0)
                inside.append(word)
                if word.endswith(']'):
                    break
            for option in ' '.join(inside).strip('[] ').split():
                name, _, value = option.partition('=')
                options[name.lower()] = value
        if len(rest) < 2:
            continue
        entries.append(AptEntry(types=(kind,), uris=(rest[0],),
                                suites=(rest[1],),
                                components=tuple(rest[2:]),
                                signed_by=options.get('signed-by', ''),
                                origin=origin))
    return entries


def source_files(etc: str = APT_ETC) -> List[str]:
    """The files apt reads sources from, in apt's order."""
    parts = os.path.join(etc, 'sources.list.d')
    files = [os.path.join(etc, 'sources.list')]
    files += sorted(glob.glob(os.path.join(parts, '*.list')) +
                    glob.glob(os.path.join(parts, '*.sources')))
    return [f for f in files if os.path.isfile(f)]


def read_entries(files: Sequence[str]) -> List[AptEntry]:
    entries: List[AptEntry] = []
    for path in files:
        try:
            with open(path, encoding='utf-8', errors='replace') as f:
                text = f.read()
        except OSError:
            continue
        parse = parse_deb822 if path.endswith('.sources') else parse_one_line
        entries += parse(text, path)
    return entries


def release_codename(path: str = OS_RELEASE) -> str:
    """VERSION_CODENAME of os-release ('bookworm'), or ''."""
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            lines = f.read().split('\n')
    except OSError:
        return ''
    for line in lines:
        name, _, value = line.partition('=')
        if name.strip() == 'VERSION_CODENAME':
            return value.strip().strip('"\'')
    return ''


def pick_archive(entries: Sequence[AptEntry], codename: str,
                 exists: Callable[[str], bool] = os.path.isfile
                 ) -> Archive:
    """The Debian archive: the first deb entry for the release itself."""
    if not codename:
        raise NoArchive(f'no VERSION_CODENAME in {OS_RELEASE}')
    for entry in entries:
        if 'deb' in entry.types and codename in entry.suites and entry.uris:
            keyring = entry.signed_by or (DEFAULT_KEYRING
                                          if exists(DEFAULT_KEYRING) else '')
            return Archive(entry.uris[0], keyring)
    files = sorted({e.origin for e in entries if e.origin})
    raise NoArchive(f'no "deb" entry for suite {codename} in '
                    f'{", ".join(files) if files else "the apt sources"}')


def machine_archive(etc: str = APT_ETC, os_release: str = OS_RELEASE,
                    exists: Callable[[str], bool] = os.path.isfile
                    ) -> Archive:
    return pick_archive(read_entries(source_files(etc)),
                        release_codename(os_release), exists)


def private_sources(archive: Archive, suite: str) -> str:
    """A deb822 sources file for one suite of the machine's archive."""
    lines = ['Types: deb', f'URIs: {archive.uri}', f'Suites: {suite}',
             'Components: main']
    if archive.signed_by:
        # An embedded key keeps its continuation lines (" ." for blanks).
        first, *more = archive.signed_by.split('\n')
        lines.append(f'Signed-By: {first}'.rstrip())
        lines += [f' {line}' for line in more]
    return '\n'.join(lines) + '\n'
