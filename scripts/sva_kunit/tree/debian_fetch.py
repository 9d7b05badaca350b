"""Fetch a linux-source package from a Debian suite the machine's apt
does not use (trixie-backports on Debian 12, say), into the cache.

Nothing system-wide changes and nothing is installed: apt runs with its
sources, lists and cache pointed into <cache>/apt/<suite>/, with the URI
and keyring of the machine's own Debian archive entry (apt_config.py).
`apt-get download` fetches the .deb, `dpkg-deb -x` unpacks it next to
it, the tarball inside is extracted like an installed package's
(source_cache.ensure_tree), and the .deb and unpacked files are deleted.
The lists stay, so for UPDATE_EVERY_S after an update a run needs no
network at all; and when the archive cannot be reached, a tree fetched
earlier is used, with a note.
"""

import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, TextIO, Tuple

from ..errors import SetupError
from . import apt_config, source_cache
from .kernel_sources import KernelSource, machine_sources
from .packages import C_LOCALE, Runner, has_candidate, installed_versions

UPDATE_EVERY_S = 3600
STAMP = 'updated'   # touched after each successful `apt-get update`
DOWNLOAD_PREFIX = '.download-'

ArchiveReader = Callable[[], apt_config.Archive]


class Unavailable(Exception):
    """The suite cannot provide the package now; the message says why."""


@dataclass(frozen=True)
class PrivateApt:
    """apt pointed at one suite's private state: <cache>/apt/<suite>/."""
    root: str

    @property
    def sources(self) -> str:
        return os.path.join(self.root, 'sources.sources')

    @property
    def lists(self) -> str:
        return os.path.join(self.root, 'lists')

    @property
    def cache(self) -> str:
        return os.path.join(self.root, 'cache')

    def options(self) -> List[str]:
        return ['-o', f'Dir::Etc::sourcelist={self.sources}',
                '-o', 'Dir::Etc::sourceparts=-',
                '-o', f'Dir::State::Lists={self.lists}',
                '-o', f'Dir::Cache={self.cache}']

    def apt_get(self, *args: str) -> List[str]:
        return ['apt-get', *self.options(), *args]

    def apt_cache(self, *args: str) -> List[str]:
        return ['apt-cache', *self.options(), *args]


def private_apt(cache_dir: str, suite: str) -> PrivateApt:
    return PrivateApt(os.path.join(cache_dir, 'apt', suite))


def needed(source: KernelSource, cache_dir: str,
           run: Runner = subprocess.run) -> bool:
    """Must source's package be fetched into the cache (True), or does it
    come from the machine's apt (False)?

    Installed system-wide: from there.  Fetched before: fetched again, so
    a run does not ask the machine's apt (0.6 s where apt keeps no binary
    cache).  Else fetched only if the machine's apt has no candidate.
    """
    if not source.suite or installed_versions([source.package], run):
        return False
    if os.path.isfile(private_apt(cache_dir, source.suite).sources):
        return True
    return not has_candidate(source.package, run)


def _run(argv: List[str], run: Runner, cwd: Optional[str] = None
         ) -> 'subprocess.CompletedProcess[str]':
    try:
        return run(argv, capture_output=True, text=True, check=False,
                   cwd=cwd, env=dict(os.environ, **C_LOCALE))
    except FileNotFoundError:
        raise Unavailable(f'{argv[0]} not found') from None


def _why(proc: 'subprocess.CompletedProcess[str]') -> str:
    """The first error line (the cause; apt's later ones sum up), else
    the last warning, else the exit status."""
    text = (proc.stderr or '') + '\n' + (proc.stdout or '')
    lines = [' '.join(line.split()) for line in text.splitlines()]
    errors = [line for line in lines if line.startswith(('E:', 'dpkg-deb:'))]
    warnings = [line for line in lines if line.startswith('W:')]
    if errors or warnings:
        return errors[0] if errors else warnings[-1]
    return f'exit {proc.returncode}'


def prepare(apt: PrivateApt, archive: apt_config.Archive, suite: str) -> None:
    """The private directories and sources file; a changed sources file
    makes the lists stale."""
    for path in (os.path.join(apt.lists, 'partial'),
                 os.path.join(apt.cache, 'archives', 'partial')):
        os.makedirs(path, exist_ok=True)
    text = apt_config.private_sources(archive, suite)
    try:
        with open(apt.sources, encoding='utf-8') as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(apt.sources, 'w', encoding='utf-8') as f:
        f.write(text)
    try:
        os.unlink(os.path.join(apt.root, STAMP))
    except FileNotFoundError:
        pass


def is_fresh(apt: PrivateApt, now: Optional[float] = None) -> bool:
    try:
        updated = os.stat(os.path.join(apt.root, STAMP)).st_mtime
    except OSError:
        return False
    return (time.time() if now is None else now) - updated < UPDATE_EVERY_S


def update(apt: PrivateApt, out: TextIO, run: Runner) -> None:
    # --error-on=any: without it an unreachable archive is only a warning.
    argv = apt.apt_get('--error-on=any', 'update')
    out.write(f'sva-kunit: {shlex.join(argv)}\n')
    out.flush()
    proc = _run(argv, run)
    if proc.returncode != 0:
        raise Unavailable(f'apt-get update failed: {_why(proc)}')
    with open(os.path.join(apt.root, STAMP), 'w', encoding='utf-8'):
        pass


def candidate(apt: PrivateApt, package: str, run: Runner) -> str:
    """The version apt would fetch, or '' if the suite has none."""
    proc = _run(apt.apt_cache('policy', package), run)
    for line in proc.stdout.splitlines():
        key, _, value = line.strip().partition(':')
        if key == 'Candidate' and value.strip() != '(none)':
            return value.strip()
    return ''


def locate(cache_dir: str, source: KernelSource, out: TextIO, run: Runner,
           archive: ArchiveReader) -> Tuple[PrivateApt, str]:
    """The private apt of source's suite, up to date, and the version of
    source's package there."""
    try:
        found = archive()
    except apt_config.NoArchive as e:
        raise Unavailable(str(e)) from None
    apt = private_apt(cache_dir, source.suite)
    prepare(apt, found, source.suite)
    if not is_fresh(apt):
        update(apt, out, run)
    version = candidate(apt, source.package, run)
    if not version:
        raise Unavailable(f'no {source.package} in {found.uri} '
                          f'{source.suite}')
    return apt, version


def download_tarball(apt: PrivateApt, source: KernelSource, version: str,
                     into: str, out: TextIO, run: Runner) -> str:
    """Download the .deb into `into`, unpack it there; the tarball."""
    argv = apt.apt_get('download', f'{source.package}={version}')
    out.write(f'sva-kunit: {shlex.join(argv)}\n')
    out.flush()
    started = time.monotonic()
    proc = _run(argv, run, cwd=into)
    debs = [n for n in os.listdir(into) if n.endswith('.deb')]
    if proc.returncode != 0 or len(debs) != 1:
        raise Unavailable(f'apt-get download failed: {_why(proc)}')
    deb = os.path.join(into, debs[0])
    size = os.path.getsize(deb)
    unpacked = os.path.join(into, 'unpacked')
    proc = _run(['dpkg-deb', '-x', deb, unpacked], run)
    tarball = os.path.join(unpacked, source.tarball.lstrip('/'))
    if proc.returncode != 0 or not os.path.isfile(tarball):
        raise SetupError(f'unpacking {deb} gave no {source.tarball} '
                         f'({_why(proc)})', 'check free space in the cache '
                         'dir (or pass --cache-dir) and rerun')
    os.unlink(deb)
    out.write(f'sva-kunit: fetched {source.package} {version} from '
              f'{source.suite} ({size / 1e6:.0f} MB) in '
              f'{time.monotonic() - started:.0f} s\n')
    return tarball


def not_available(source: KernelSource, why: object) -> SetupError:
    return SetupError(f"{source.package} is not available from this "
                      f"machine's Debian archive ({source.suite}: {why})",
                      f'use --source={machine_sources()} or --kernel=DIR')


def fetched_tree(cache_dir: str, source: KernelSource, out: TextIO,
                 run: Runner = subprocess.run,
                 archive: ArchiveReader = apt_config.machine_archive,
                 members: Optional[Sequence[str]] = None) -> str:
    """The cached tree of source's package as its suite has it now,
    fetching and extracting it if needed; an earlier one when the suite
    cannot be reached.  With members (tree-relative paths), only those
    are needed: a cached tree still serves, else just they are extracted
    (source_cache.ensure_files)."""
    try:
        apt, version = locate(cache_dir, source, out, run, archive)
        tree = source_cache.tree_dir(cache_dir, source.package, version)
        if os.path.isdir(tree):
            return tree
        files = source_cache.files_dir(cache_dir, source.package, version)
        if members is not None and source_cache.has_files(files, members):
            return files
        source_cache.remove_abandoned_extractions(apt.root, DOWNLOAD_PREFIX)
        work = tempfile.mkdtemp(prefix=f'{DOWNLOAD_PREFIX}{os.getpid()}-',
                                dir=apt.root)
        try:
            tarball = download_tarball(apt, source, version, work, out, run)
            if members is not None:
                return source_cache.ensure_files(
                    cache_dir, source.package, version, members, out,
                    tarball, run)
            return source_cache.ensure_tree(cache_dir, source.package,
                                            version, out, tarball, run)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except Unavailable as e:
        if members is None:
            cached = source_cache.newest_tree(cache_dir, source.package)
        else:
            cached = source_cache.newest_files(cache_dir, source.package,
                                               members)
        if cached is None:
            raise not_available(source, e) from None
        out.write(f'sva-kunit: note: {source.package} from {source.suite}: '
                  f'{e}; using the tree fetched earlier, {cached}\n')
        return cached


def fetched_tarball(cache_dir: str, source: KernelSource, into: str,
                    out: TextIO, run: Runner = subprocess.run,
                    archive: ArchiveReader = apt_config.machine_archive
                    ) -> str:
    """A pristine tarball of source's package, unpacked under `into` (the
    caller removes it)."""
    try:
        apt, version = locate(cache_dir, source, out, run, archive)
        os.makedirs(into, exist_ok=True)
        return download_tarball(apt, source, version, into, out, run)
    except Unavailable as e:
        raise not_available(source, e) from None
