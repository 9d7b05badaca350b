"""Run the kernel's checkpatch.pl over the project's C sources."""

import os
import subprocess
from dataclasses import dataclass
from typing import List

from .kernel_tree import CHECKPATCH_PL
from .payload import JUNK_DIRS, is_junk

C_SUFFIXES = ('.c', '.h')


@dataclass
class CheckpatchResult:
    path: str      # repo-relative
    passed: bool
    output: str


def c_sources(repo_root: str) -> List[str]:
    """Repo-relative .c/.h files, skipping hidden and junk directories."""
    found = []
    for dirpath, dirnames, filenames in os.walk(repo_root):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in JUNK_DIRS and not d.startswith('.'))
        for name in sorted(filenames):
            if name.endswith(C_SUFFIXES) and not is_junk(name):
                found.append(os.path.relpath(os.path.join(dirpath, name),
                                             repo_root))
    return sorted(found)


def checkpatch_command(tree: str, path: str) -> List[str]:
    return ['perl', os.path.join(tree, CHECKPATCH_PL), '--strict',
            '--no-tree', '-f', path]


def run_checkpatch(tree: str, repo_root: str, path: str
                   ) -> CheckpatchResult:
    # Run from the repo so checkpatch names files as the developer sees
    # them; --strict makes CHECKs fail too, which is the project's bar.
    proc = subprocess.run(checkpatch_command(tree, path), cwd=repo_root,
                          capture_output=True, text=True,
                          errors='backslashreplace', check=False)
    return CheckpatchResult(path, proc.returncode == 0,
                            proc.stdout + proc.stderr)
