"""The tree of --source: a Debian linux-source package from the machine's
apt, or fetched from its Debian suite with apt's state in the cache (the
machine's archive and keyring, nothing system-wide), extracted once."""

import glob
import hashlib
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from typing import Dict, List, NamedTuple, Optional, Sequence, TextIO, Tuple

from ..errors import SetupError
from ..locks import make_cache_dir


class KernelSource(NamedTuple):
    package: str     # the Debian package holding /usr/src/<package>.tar.xz
    suite: str       # fetched from it if apt lacks the package ('': never)


SOURCES = {'7.3': KernelSource('linux-source-7.3', 'trixie-backports'),
           '6.12': KernelSource('linux-source-6.12', ''),
           '7.2': KernelSource('linux-source-7.2', 'sid')}
DEFAULT_SOURCE = '7.3'
# What building any kernel source needs.
REQUIRED_PACKAGES = ('flex', 'bison', 'bc', 'libelf-dev', 'libssl-dev',
                     'gcc', 'make', 'python3', 'ccache')

CACHE_ENV = 'SVA_KUNIT_CACHE'
WORK_PREFIX = '.extract-'
DEFAULT_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg'
UPDATE_EVERY_S = 3600

# apt's messages are translated; its output is parsed only in this locale.
C_LOCALE = {'LC_ALL': 'C', 'LANGUAGE': ''}


class Archive(NamedTuple):
    uri: str
    signed_by: str     # '' when apt's default keyrings apply


class Unavailable(Exception):
    """The suite cannot provide the package now; the message says why."""


def source_version(text: str) -> str:
    """argparse type of --source (its SetupError passes argparse by)."""
    if text not in SOURCES:
        raise SetupError(f'--source={text} is not supported (supported: '
                         f'{", ".join(SOURCES)})', 'pick one of those')
    return text


def source_tree(cache_dir: str, version: str, out: TextIO,
                packages: Sequence[str] = REQUIRED_PACKAGES,
                members: Sequence[str] = (),
                tarball_into: Optional[str] = None) -> str:
    """The cached tree of --source=version (members: see ensure_tree), or
    with tarball_into its pristine tarball; packages installed first."""
    source = SOURCES[source_version(version)]
    make_cache_dir(cache_dir)
    if needed(source, cache_dir):
        if packages:
            ensure_packages(out, packages)
        return fetched_tree(cache_dir, source, out, members=members,
                            into=tarball_into)
    versions = ensure_packages(out, (*packages, source.package))
    if tarball_into is not None:
        return find_tarball(source.package)
    return ensure_tree(cache_dir, source.package, versions[source.package],
                       out, members=members)


def installed_versions(packages: Sequence[str]) -> Dict[str, str]:
    try:
        proc = subprocess.run(['dpkg-query', '-W', '-f=${Package}\t'
                               '${Status}\t${Version}\n', *packages],
                              capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise SetupError('dpkg-query not found (the default kernel tree '
                         'comes from a Debian package)',
                         'run on Debian/Ubuntu or pass --kernel=DIR'
                         ) from None
    # dpkg-query exits 1 when some package is unknown: only the output
    # matters.  A name may carry its architecture (":amd64").
    return {m[1]: m[2] for m in re.finditer(
        r'^([^\t:]+)[^\t]*\t[^\t]* installed\t(\S+)$', proc.stdout, re.M)}


def candidate(package: str, apt_options: Sequence[str] = ()) -> str:
    """The version apt would install, '' if none (or no apt)."""
    try:
        proc = subprocess.run(['apt-cache', *apt_options, 'policy', package],
                              capture_output=True, text=True, check=False,
                              env=dict(os.environ, **C_LOCALE))
    except FileNotFoundError:
        return ''
    # An unknown package prints nothing; a known one without a version
    # in any suite says "Candidate: (none)".
    found = re.search(r'^\s*Candidate:\s*(\S+)', proc.stdout, re.M)
    return found[1] if found and found[1] != '(none)' else ''


def ensure_packages(out: TextIO, packages: Sequence[str] = REQUIRED_PACKAGES
                    ) -> Dict[str, str]:
    """Install missing packages when root, else explain; return versions."""
    versions = installed_versions(packages)
    missing = [p for p in packages if p not in versions]
    if not missing:
        return versions
    if os.geteuid() != 0:
        raise SetupError('missing Debian packages: ' + ' '.join(missing),
                         'install them with: sudo apt-get install -y '
                         + ' '.join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    for argv in (['apt-get', 'update'], ['apt-get', 'install', '-y',
                                         *missing]):
        print('sva-kunit:', *argv, file=out, flush=True)
        proc = subprocess.run(argv, env=env, check=False)
        if proc.returncode != 0:
            raise SetupError(f'"{" ".join(argv)}" failed (exit '
                             f'{proc.returncode})', 'fix apt (see its '
                             'output above) and rerun')
    return installed_versions(packages)


# The cache: trees/<package>_<version> (files/...: only a few files of
# it, for checkpatch.pl), and a build directory per tree.
def default_cache_dir() -> str:
    return os.path.abspath(os.path.expanduser(
        os.environ.get(CACHE_ENV) or '~/.cache/sva-kunit'))


def _safe(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9._+-]', '_', text)


def build_dir_for(cache_dir: str, tree: str) -> str:
    """One build dir per tree, so trees never share (and break) objects."""
    real = os.path.realpath(tree)
    digest = hashlib.sha256(real.encode()).hexdigest()[:12]
    label = _safe(os.path.basename(real.rstrip(os.sep)) or 'root')
    return os.path.join(cache_dir, 'build', f'{label}-{digest}')


def find_tarball(package: str) -> str:
    path = f'/usr/src/{package}.tar.xz'
    if not os.path.isfile(path):
        raise SetupError(f'{package} is installed but {path} is missing',
                         f'reinstall it: apt-get install --reinstall '
                         f'{package}')
    return path


def cached_tree(cache_dir: str, package: str, version: Optional[str] = None,
                members: Sequence[str] = ()) -> Optional[str]:
    """The tree of this version (None: the newest), else with members a
    directory of files holding them."""
    name = f'{package}_{_safe(version) if version else "*"}'
    for kind in ('trees', 'files') if members else ('trees',):
        found = glob.glob(os.path.join(cache_dir, kind, name, ''))
        newest = max(found, key=os.path.getmtime, default=None)
        if newest and (kind == 'trees' or all(
                os.path.isfile(os.path.join(newest, m)) for m in members)):
            return os.path.dirname(newest)   # without glob's trailing /
    return None


def work_dir(parent: str) -> 'tempfile.TemporaryDirectory[str]':
    """A temp dir in parent; those of processes that died are deleted."""
    os.makedirs(parent, exist_ok=True)
    for name in os.listdir(parent):
        match = re.match(re.escape(WORK_PREFIX) + r'(\d+)-', name)
        if match and not os.path.exists(f'/proc/{match[1]}'):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f'{WORK_PREFIX}{os.getpid()}-',
                                       dir=parent, ignore_cleanup_errors=True)


def ensure_tree(cache_dir: str, package: str, version: str, out: TextIO,
                tarball: Optional[str] = None,
                members: Sequence[str] = ()) -> str:
    """The tree of this package version, extracted once from tarball
    (default: the installed package's); with members, only those files
    unless the whole tree is cached."""
    found = cached_tree(cache_dir, package, version, members)
    if found:
        return found
    final = os.path.join(cache_dir, 'files' if members else 'trees',
                         f'{package}_{_safe(version)}')
    tarball = tarball or find_tarball(package)
    what = f'{", ".join(members)} from ' if members else ''
    print(f'sva-kunit: extracting {what}{tarball} into {final}', file=out,
          flush=True)
    # Into a temporary directory, renamed into place only when complete:
    # an interrupted extraction is never taken for a tree.
    with work_dir(os.path.dirname(final)) as tmp:
        # One directory level, then the member: "*" must not match "/".
        patterns = (['--wildcards', '--no-wildcards-match-slash']
                    + [f'*/{m}' for m in members] if members else [])
        proc = subprocess.run(['tar', '-xf', tarball, '-C', tmp,
                               '--no-same-owner', *patterns], check=False)
        if proc.returncode != 0:
            raise SetupError(f'extracting {tarball} failed (tar exit '
                             f'{proc.returncode})', 'check free space in '
                             f'{cache_dir} (or pass --cache-dir) and rerun')
        entries = [e for e in os.listdir(tmp)
                   if os.path.isdir(os.path.join(tmp, e))]
        if len(entries) != 1:
            raise SetupError(f'{tarball} does not hold exactly one top '
                             'directory', f'reinstall {package}')
        if members and os.path.isdir(final):
            # Fewer files than asked for now (cached_tree said so).
            os.rename(final, os.path.join(tmp, 'old'))
        try:
            os.rename(os.path.join(tmp, entries[0]), final)
        except OSError:
            # Another sva-kunit finished the same extraction first.
            if not os.path.isdir(final):
                raise
    return final


# Fetching from a Debian suite the machine's apt does not use.
def parse_deb822(text: str) -> List[Dict[str, str]]:
    entries = []
    for stanza in re.split(r'\n\s*\n', re.sub(r'(?m)^#.*\n?', '', text)):
        # A value goes on over indented lines (an embedded key, say).
        fields = {key.strip().lower(): '\n'.join(
            line.strip() for line in value.split('\n'))
            for key, value in re.findall(r'^(\S[^:\n]*):(.*(?:\n[ \t].*)*)',
                                         stanza, re.M)}
        if fields and fields.get('enabled', 'yes').lower() != 'no':
            entries.append(fields)
    return entries


def parse_one_line(text: str) -> List[Dict[str, str]]:
    """`deb [opt=value ...] URI suite [component ...]` lines."""
    return [{'types': m[1], 'uris': m[3], 'suites': m[4],
             'signed-by': ''.join(re.findall(r'\bsigned-by=([^]\s]+)',
                                             m[2] or ''))}
            for m in re.finditer(r'(?m)^[ \t]*(deb|deb-src)[ \t]+(\[[^]\n]*'
                                 r'\][ \t]*)?([^\s#]+)[ \t]+([^\s#]+)', text)]


def machine_archive(etc: str = '/etc/apt',
                    os_release: str = '/etc/os-release') -> Archive:
    """The Debian archive: apt's first deb entry for the release itself."""
    found = re.search(r'^VERSION_CODENAME=(.*)$', read_text(os_release),
                      re.M)
    codename = found[1].strip().strip('"\'') if found else ''
    if not codename:
        raise Unavailable(f'no VERSION_CODENAME in {os_release}')
    parts = os.path.join(etc, 'sources.list.d')
    for path in [os.path.join(etc, 'sources.list')] + sorted(
            glob.glob(f'{parts}/*.list') + glob.glob(f'{parts}/*.sources')):
        # In apt's order.
        parse = parse_deb822 if path.endswith('.sources') else parse_one_line
        for e in parse(read_text(path)):
            uris = e.get('uris', '').split()
            if ('deb' in e.get('types', '').split() and uris
                    and codename in e.get('suites', '').split()):
                keyring = e.get('signed-by', '').rstrip() or (
                    DEFAULT_KEYRING if os.path.isfile(DEFAULT_KEYRING)
                    else '')
                return Archive(uris[0], keyring)
    raise Unavailable(f'no "deb" entry for suite {codename} in {etc}')


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


def read_text(path: str) -> str:
    """A regular file's text; '' for anything else (a FIFO would block)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return ''
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def _apt_options(root: str) -> List[str]:
    return ['-o', f'Dir::Etc::sourcelist={root}/sources.sources',
            '-o', 'Dir::Etc::sourceparts=-',
            '-o', f'Dir::State::Lists={root}/lists',
            '-o', f'Dir::Cache={root}/cache']


def needed(source: KernelSource, cache_dir: str) -> bool:
    """Must source's package be fetched (or come from the machine's apt)?
    Once fetched, the machine's apt is not asked again (0.6 s)."""
    if not source.suite or installed_versions([source.package]):
        return False
    if os.path.isfile(os.path.join(cache_dir, 'apt', source.suite,
                                   'sources.sources')):
        return True
    return not candidate(source.package)


def _run(argv: List[str], out: Optional[TextIO] = None,
         cwd: Optional[str] = None) -> Tuple[int, str]:
    """Exit status and why: the first error (apt's later ones sum up),
    else the last warning."""
    if out:
        print(f'sva-kunit: {shlex.join(argv)}', file=out, flush=True)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True,
                              check=False, cwd=cwd,
                              env=dict(os.environ, **C_LOCALE))
    except FileNotFoundError:
        raise Unavailable(f'{argv[0]} not found') from None
    lines = [' '.join(line.split()) for line in
             f'{proc.stderr or ""}\n{proc.stdout or ""}'.splitlines()]
    errors = [line for line in lines if line.startswith(('E:', 'dpkg-deb:'))]
    warnings = [line for line in lines if line.startswith('W:')]
    why = errors[:1] or warnings[-1:] or [f'exit {proc.returncode}']
    return proc.returncode, why[0]


def _download(root: str, source: KernelSource, version: str, into: str,
              out: TextIO) -> str:
    """Download the .deb into `into`, unpack it there; the tarball."""
    started = time.monotonic()
    os.makedirs(into, exist_ok=True)
    rc, why = _run(['apt-get', *_apt_options(root), 'download',
                    f'{source.package}={version}'], out, cwd=into)
    debs = glob.glob(os.path.join(into, '*.deb'))
    if rc != 0 or len(debs) != 1:
        raise Unavailable(f'apt-get download failed: {why}')
    size = os.path.getsize(debs[0])
    unpacked = os.path.join(into, 'unpacked')
    rc, why = _run(['dpkg-deb', '-x', debs[0], unpacked])
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


def fetched_tree(cache_dir: str, source: KernelSource, out: TextIO,
                 members: Sequence[str] = (),
                 into: Optional[str] = None) -> str:
    """The tree of source's package as its suite has it now (members: see
    ensure_tree), else one fetched earlier if the suite is unreachable;
    with into, the package's pristine tarball, unpacked under into."""
    try:
        archive = machine_archive()
        root = os.path.join(cache_dir, 'apt', source.suite)
        for path in ('lists/partial', 'cache/archives/partial'):
            os.makedirs(os.path.join(root, path), exist_ok=True)
        text = private_sources(archive, source.suite)
        sources = os.path.join(root, 'sources.sources')
        # Its mtime is when `apt-get update` last succeeded: the lists are
        # refreshed hourly, and at once when the sources change.
        if read_text(sources) != text or (
                time.time() - os.path.getmtime(sources) >= UPDATE_EVERY_S):
            with open(sources, 'w', encoding='utf-8') as f:
                f.write(text)
            os.utime(sources, (0, 0))
            # --error-on=any: else an unreachable archive is a warning.
            rc, why = _run(['apt-get', *_apt_options(root),
                            '--error-on=any', 'update'], out)
            if rc != 0:
                raise Unavailable(f'apt-get update failed: {why}')
            os.utime(sources)
        version = candidate(source.package, _apt_options(root))
        if not version:
            raise Unavailable(f'no {source.package} in {archive.uri} '
                              f'{source.suite}')
        if into is not None:
            return _download(root, source, version, into, out)
        found = cached_tree(cache_dir, source.package, version, members)
        if found:
            return found
        with work_dir(root) as work:
            tarball = _download(root, source, version, work, out)
            return ensure_tree(cache_dir, source.package, version, out,
                               tarball, members)
    except Unavailable as e:
        cached = (cached_tree(cache_dir, source.package, None, members)
                  if into is None else None)
        if cached is None:
            mine = ', '.join(v for v, s in SOURCES.items() if not s.suite)
            raise SetupError(f"{source.package} is not available from this "
                             f"machine's Debian archive ({source.suite}: "
                             f'{e})', f'use --source={mine} or --kernel=DIR'
                             ) from None
        out.write(f'sva-kunit: note: {source.package} from {source.suite}: '
                  f'{e}; using the tree fetched earlier, {cached}\n')
        return cached
