"""Fetch a linux-source package from a Debian suite the machine's apt does
not use into the cache, with apt's state in <cache>/apt/<suite>/ and the
URI and keyring of the machine's own Debian entry: nothing system-wide."""

import glob
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from typing import (Callable, Dict, List, NamedTuple, Optional, Sequence,
                    TextIO, Tuple)

from ..errors import SetupError
from . import source_cache
from .kernel_sources import SOURCES, KernelSource
from .packages import C_LOCALE, Runner, candidate, installed_versions

APT_ETC = '/etc/apt'
OS_RELEASE = '/etc/os-release'
DEFAULT_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg'
UPDATE_EVERY_S = 3600
STAMP = 'updated'   # what the sources were at the last `apt-get update`
DOWNLOAD_PREFIX = '.download-'

Entry = Dict[str, str]   # deb822 field (lower case) -> value, and 'origin'


class Archive(NamedTuple):
    uri: str
    signed_by: str     # '' when apt's default keyrings apply


ArchiveReader = Callable[[], Archive]


class Unavailable(Exception):
    """The suite cannot provide the package now; the message says why."""


def parse_deb822(text: str, origin: str = '') -> List[Entry]:
    entries = []
    for stanza in re.split(r'\n\s*\n', text):
        fields = {'origin': origin}
        key = ''
        for line in stanza.split('\n'):
            if line.startswith('#') or not line.strip():
                continue
            if line[0] not in ' \t':
                key, _, value = line.partition(':')
                key = key.strip().lower()
                fields[key] = value.strip()
            elif key:   # a continuation line: an embedded key, say
                fields[key] += '\n' + line.strip()
        if key and fields.get('enabled', 'yes').lower() != 'no':
            entries.append(fields)
    return entries


def parse_one_line(text: str, origin: str = '') -> List[Entry]:
    """`deb [opt=value ...] URI suite [component ...]` lines."""
    entries = []
    for line in text.split('\n'):
        m = re.match(r'\s*(deb|deb-src)\s+(\[[^]]*\]\s*)?(\S+)\s+(\S+)',
                     line.split('#', 1)[0])
        if m:
            options = dict(o.partition('=')[::2]
                           for o in (m[2] or '').strip('[] \t').split())
            entries.append({'types': m[1], 'uris': m[3], 'suites': m[4],
                            'signed-by': options.get('signed-by', ''),
                            'origin': origin})
    return entries


def release_codename(path: str = OS_RELEASE) -> str:
    """VERSION_CODENAME of os-release ('bookworm'), or ''."""
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            for line in f:
                name, _, value = line.partition('=')
                if name.strip() == 'VERSION_CODENAME':
                    return value.strip().strip('"\'')
    except OSError:
        pass
    return ''


def pick_archive(entries: Sequence[Entry], codename: str) -> Archive:
    """The Debian archive: the first deb entry for the release itself."""
    if not codename:
        raise Unavailable(f'no VERSION_CODENAME in {OS_RELEASE}')
    for e in entries:
        uris = e.get('uris', '').split()
        if ('deb' in e.get('types', '').split() and uris
                and codename in e.get('suites', '').split()):
            keyring = e.get('signed-by', '').rstrip() or (
                DEFAULT_KEYRING if os.path.isfile(DEFAULT_KEYRING) else '')
            return Archive(uris[0], keyring)
    files = sorted({e['origin'] for e in entries if e['origin']})
    raise Unavailable(f'no "deb" entry for suite {codename} in '
                      f'{", ".join(files) or "the apt sources"}')


def machine_archive(etc: str = APT_ETC, os_release: str = OS_RELEASE
                    ) -> Archive:
    parts = os.path.join(etc, 'sources.list.d')
    files = [os.path.join(etc, 'sources.list')] + sorted(
        glob.glob(os.path.join(parts, '*.list')) +
        glob.glob(os.path.join(parts, '*.sources')))
    entries: List[Entry] = []
    for path in files:   # in apt's order
        parse = parse_deb822 if path.endswith('.sources') else parse_one_line
        entries += parse(_read(path), path)
    return pick_archive(entries, release_codename(os_release))


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


def _read(path: str) -> str:
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def _apt_options(root: str) -> List[str]:
    """Point apt at the private state in root, <cache>/apt/<suite>."""
    return ['-o', f'Dir::Etc::sourcelist={root}/sources.sources',
            '-o', 'Dir::Etc::sourceparts=-',
            '-o', f'Dir::State::Lists={root}/lists',
            '-o', f'Dir::Cache={root}/cache']


def needed(source: KernelSource, cache_dir: str,
           run: Runner = subprocess.run) -> bool:
    """Must source's package be fetched into the cache (True), or does it
    come from the machine's apt (False)?  Installed: from there.  Fetched
    before: fetched again, without asking the machine's apt (0.6 s).
    Else fetched only if the machine's apt has no candidate."""
    if not source.suite or installed_versions([source.package], run):
        return False
    if os.path.isfile(os.path.join(cache_dir, 'apt', source.suite,
                                   'sources.sources')):
        return True
    return not candidate(source.package, run)


def _run(argv: List[str], run: Runner, out: Optional[TextIO] = None,
         cwd: Optional[str] = None) -> Tuple[int, str]:
    """Exit status and why: the first error line (apt's later ones sum
    up), else the last warning."""
    if out:
        out.write(f'sva-kunit: {shlex.join(argv)}\n')
        out.flush()
    try:
        proc = run(argv, capture_output=True, text=True, check=False,
                   cwd=cwd, env=dict(os.environ, **C_LOCALE))
    except FileNotFoundError:
        raise Unavailable(f'{argv[0]} not found') from None
    lines = [' '.join(line.split()) for line in
             f'{proc.stderr or ""}\n{proc.stdout or ""}'.splitlines()]
    errors = [line for line in lines if line.startswith(('E:', 'dpkg-deb:'))]
    warnings = [line for line in lines if line.startswith('W:')]
    why = errors[:1] or warnings[-1:] or [f'exit {proc.returncode}']
    return proc.returncode, why[0]


def _locate(cache_dir: str, source: KernelSource, out: TextIO, run: Runner,
            archive: ArchiveReader) -> Tuple[str, str]:
    """The private apt dir of source's suite, its lists up to date, and
    the version of source's package there."""
    found = archive()
    root = os.path.join(cache_dir, 'apt', source.suite)
    for path in ('lists/partial', 'cache/archives/partial'):
        os.makedirs(os.path.join(root, path), exist_ok=True)
    text = private_sources(found, source.suite)
    sources = os.path.join(root, 'sources.sources')
    stamp = os.path.join(root, STAMP)
    if _read(sources) != text:
        with open(sources, 'w', encoding='utf-8') as f:
            f.write(text)
    # Lists of other sources are stale whatever their age.
    if (_read(stamp) != text or
            time.time() - os.path.getmtime(stamp) >= UPDATE_EVERY_S):
        # --error-on=any: else an unreachable archive is only a warning.
        rc, why = _run(['apt-get', *_apt_options(root), '--error-on=any',
                        'update'], run, out)
        if rc != 0:
            raise Unavailable(f'apt-get update failed: {why}')
        with open(stamp, 'w', encoding='utf-8') as f:
            f.write(text)
    version = candidate(source.package, run, _apt_options(root))
    if not version:
        raise Unavailable(f'no {source.package} in {found.uri} '
                          f'{source.suite}')
    return root, version


def _download(root: str, source: KernelSource, version: str, into: str,
              out: TextIO, run: Runner) -> str:
    """Download the .deb into `into`, unpack it there; the tarball."""
    started = time.monotonic()
    rc, why = _run(['apt-get', *_apt_options(root), 'download',
                    f'{source.package}={version}'], run, out, cwd=into)
    debs = glob.glob(os.path.join(into, '*.deb'))
    if rc != 0 or len(debs) != 1:
        raise Unavailable(f'apt-get download failed: {why}')
    size = os.path.getsize(debs[0])
    unpacked = os.path.join(into, 'unpacked')
    rc, why = _run(['dpkg-deb', '-x', debs[0], unpacked], run)
    tarball = os.path.join(unpacked, 'usr', 'src', f'{source.package}.tar.xz')
    if rc != 0 or not os.path.isfile(tarball):
        raise SetupError(f'unpacking {debs[0]} gave no {tarball} ({why})',
                         'check free space in the cache dir (or pass '
                         '--cache-dir) and rerun')
    os.unlink(debs[0])
    out.write(f'sva-kunit: fetched {source.package} {version} from '
              f'{source.suite} ({size / 1e6:.0f} MB) in '
              f'{time.monotonic() - started:.0f} s\n')
    return tarball


def _not_available(source: KernelSource, why: object) -> SetupError:
    mine = ', '.join(v for v, s in SOURCES.items() if not s.suite)
    return SetupError(f"{source.package} is not available from this "
                      f"machine's Debian archive ({source.suite}: {why})",
                      f'use --source={mine} or --kernel=DIR')


def fetched_tree(cache_dir: str, source: KernelSource, out: TextIO,
                 run: Runner = subprocess.run,
                 archive: ArchiveReader = machine_archive,
                 members: Sequence[str] = ()) -> str:
    """The cached tree of source's package as its suite has it now,
    fetched and extracted if needed (with members, only those files: see
    source_cache.ensure_tree); an earlier one when the suite cannot be
    reached."""
    try:
        root, version = _locate(cache_dir, source, out, run, archive)
        found = source_cache.cached_tree(cache_dir, source.package, version,
                                         members)
        if found:
            return found
        source_cache.remove_abandoned(root, DOWNLOAD_PREFIX)
        work = tempfile.mkdtemp(prefix=f'{DOWNLOAD_PREFIX}{os.getpid()}-',
                                dir=root)
        try:
            tarball = _download(root, source, version, work, out, run)
            return source_cache.ensure_tree(cache_dir, source.package,
                                            version, out, tarball, run,
                                            members)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except Unavailable as e:
        cached = source_cache.newest_tree(cache_dir, source.package, members)
        if cached is None:
            raise _not_available(source, e) from None
        out.write(f'sva-kunit: note: {source.package} from {source.suite}: '
                  f'{e}; using the tree fetched earlier, {cached}\n')
        return cached


def fetched_tarball(cache_dir: str, source: KernelSource, into: str,
                    out: TextIO, run: Runner = subprocess.run,
                    archive: ArchiveReader = machine_archive) -> str:
    """A pristine tarball of source's package, unpacked under `into` (the
    caller removes it)."""
    try:
        root, version = _locate(cache_dir, source, out, run, archive)
        os.makedirs(into, exist_ok=True)
        return _download(root, source, version, into, out, run)
    except Unavailable as e:
        raise _not_available(source, e) from None
