"""Run the kernel's checkpatch.pl over the project's C sources."""

import glob
import os
import subprocess
from typing import List, NamedTuple, TextIO

from . import kernel_sources
from .payload import JUNK_DIRS, is_junk

# What `checkpatch.pl --no-tree` reads of the tree (7.3's and 6.12's):
# itself, $D/spelling.txt, $D/const_structs.checkpatch and, for --verbose,
# $D/../Documentation/dev-tools/checkpatch.rst; nothing else of the tree.
CHECKPATCH_FILES = ('scripts/checkpatch.pl', 'scripts/spelling.txt',
                    'scripts/const_structs.checkpatch',
                    'Documentation/dev-tools/checkpatch.rst')


class CheckpatchResult(NamedTuple):
    path: str      # repo-relative
    passed: bool
    output: str


def c_sources(repo_root: str) -> List[str]:
    """Repo-relative .c/.h files, skipping hidden and junk directories."""
    found = glob.glob('**/*.[ch]', root_dir=repo_root, recursive=True)
    return sorted(f for f in found if not is_junk(os.path.basename(f))
                  and not set(f.split(os.sep)) & set(JUNK_DIRS))


def checkpatch_tree(cache_dir: str, source: str, out: TextIO) -> str:
    """The cached --source tree, else only its CHECKPATCH_FILES (a few
    hundred kB, not 1.7 GB)."""
    return kernel_sources.source_tree(cache_dir, source, out, (),
                                      CHECKPATCH_FILES)


def checkpatch_command(tree: str, path: str) -> List[str]:
    return ['perl', os.path.join(tree, CHECKPATCH_FILES[0]), '--strict',
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
