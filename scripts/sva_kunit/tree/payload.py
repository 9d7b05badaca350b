"""The files copied into a kernel tree: all under drivers/ and tools/."""

import fnmatch
import os
import stat
from dataclasses import dataclass
from typing import Dict

from ..errors import SetupError

PAYLOAD_DIRS = ('drivers', 'tools')

# Editor droppings, patch leftovers and build output must never reach a
# kernel tree: they would show up as foreign files or break the build.
JUNK_DIRS = ('__pycache__', '.git', '.svn', '.hg')
JUNK_FILES = ('*~', '.*.swp', '.*.swo', '*.swp', '*.swo', '.#*', '#*#',
              '*.orig', '*.rej', '*.bak', '*.tmp', '.DS_Store', '*.pyc',
              '*.o', '*.ko', '*.mod', '*.mod.c', '.*.cmd', '*.a')


@dataclass(frozen=True)
class PayloadFile:
    data: bytes
    mode: int  # permission bits only, e.g. 0o644


def default_repo_root() -> str:
    # __file__ is <root>/scripts/sva_kunit/tree/payload.py
    return os.path.abspath(os.path.join(__file__, '../../../..'))


def is_junk(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in JUNK_FILES)


def collect_payload(repo_root: str) -> Dict[str, PayloadFile]:
    """Map tree-relative path (always '/'-separated) -> file contents;
    SetupError if there are none."""
    payload: Dict[str, PayloadFile] = {}
    for top in PAYLOAD_DIRS:
        for dirpath, dirnames, names in os.walk(os.path.join(repo_root, top)):
            dirnames[:] = [d for d in dirnames if d not in JUNK_DIRS]
            for name in names:
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                # Symlinks and devices have no place in a tree either.
                if is_junk(name) or not stat.S_ISREG(st.st_mode):
                    continue
                rel = os.path.relpath(full, repo_root).replace(os.sep, '/')
                with open(full, 'rb') as f:
                    payload[rel] = PayloadFile(f.read(),
                                               stat.S_IMODE(st.st_mode))
    if not payload:
        raise SetupError(f'no suite files under {repo_root}/drivers or '
                         f'{repo_root}/tools', 'run sva-kunit from its '
                         'repository checkout')
    return payload
