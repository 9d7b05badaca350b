"""git as a service of several commands: bisect-step, format-patch and the
checks of bisect-selftest and check."""

import os
import subprocess
from typing import Mapping, Optional, Sequence


class GitError(Exception):
    """A git command failed, or there is no git; str() says so in one
    line (git's own complaint where it gave one)."""


class GitMissing(GitError):
    """There is no git to run."""


def git(cwd: str, args: Sequence[str], check: bool = True,
        env: Optional[Mapping[str, str]] = None,
        input_bytes: Optional[bytes] = None
        ) -> 'subprocess.CompletedProcess[bytes]':
    """git with no pager and no prompts."""
    try:
        proc = subprocess.run(
            ['git', *args], cwd=cwd, input=input_bytes, capture_output=True,
            env={**os.environ, 'GIT_PAGER': 'cat', 'GIT_TERMINAL_PROMPT': '0',
                 'LC_ALL': 'C', **(env or {})},
            stdin=None if input_bytes is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitMissing('git not found on PATH (Debian package git)'
                         ) from None
    if check and proc.returncode != 0:
        first = (proc.stderr.decode(errors='replace').strip().splitlines()
                 or [''])[0]
        # Without the "-c key=value" pairs, for shorter messages.
        shown = [a for i, a in enumerate(args)
                 if a != '-c' and (i == 0 or args[i - 1] != '-c')]
        raise GitError(f'git {" ".join(shown)} failed (exit '
                       f'{proc.returncode}){": " + first if first else ""}')
    return proc


def git_text(cwd: str, args: Sequence[str],
             env: Optional[Mapping[str, str]] = None) -> str:
    return git(cwd, args, env=env).stdout.decode(errors='replace').strip()


def toplevel(path: str) -> Optional[str]:
    """The top of the git work tree holding path; None if there is none
    (GitError if there is no git to ask)."""
    if not os.path.isdir(path):
        return None
    try:
        return git_text(path, ('rev-parse', '--show-toplevel')) or None
    except GitMissing:
        raise
    except GitError:
        return None
