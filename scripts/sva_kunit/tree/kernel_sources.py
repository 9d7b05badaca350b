"""The Debian kernel sources --source can pick, and where each comes from:
the machine's own apt, or its Debian suite (debian_fetch.py)."""

import argparse
from typing import NamedTuple

from ..errors import SetupError


class KernelSource(NamedTuple):
    version: str     # what --source takes
    package: str     # the Debian package holding /usr/src/<package>.tar.xz
    # The Debian suite to fetch it from when the machine's apt has no
    # candidate for it; '' when only the machine's own apt may provide it.
    suite: str


SOURCES = {s.version: s for s in (
    KernelSource('7.3', 'linux-source-7.3', 'trixie-backports'),
    KernelSource('6.12', 'linux-source-6.12', ''),
    KernelSource('7.2', 'linux-source-7.2', 'sid'),
)}
DEFAULT_SOURCE = '7.3'


def source_version(text: str) -> str:
    """argparse type of --source: a version of the table."""
    if text not in SOURCES:
        raise argparse.ArgumentTypeError(
            f'--source={text} is not supported (supported: '
            f'{", ".join(SOURCES)})')
    return text


def get_source(version: str) -> KernelSource:
    try:
        return SOURCES[source_version(version)]
    except argparse.ArgumentTypeError as e:
        raise SetupError(str(e), 'pick one of those, or pass --kernel=DIR'
                         ) from None
