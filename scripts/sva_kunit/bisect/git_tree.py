"""The few git queries bisect-step and its self-test need.

Everything goes through one function so tests (and the self-test) run
git the same way: no pager, no prompts, output as bytes or text.
"""

import os
import subprocess
from typing import Mapping, Optional, Sequence

# A status that means "nothing changed" must not depend on the user's
# colour or column settings; --porcelain=v1 is stable by contract.
# --ignored too: the kernel's .gitignore ignores ".*", so without it a
# left-behind .sva-kunit-manifest or .kunitconfig would not show.
STATUS_ARGS = ('status', '--porcelain=v1', '--untracked-files=all',
               '--ignored')


class GitError(Exception):
    """A git command failed; str() is git's one-line complaint."""


def _env(extra: Optional[Mapping[str, str]] = None) -> dict:
    env = dict(os.environ)
    env.update({'GIT_PAGER': 'cat', 'GIT_TERMINAL_PROMPT': '0',
                'LC_ALL': 'C'})
    if extra:
        env.update(extra)
    return env


def _without_config(args: Sequence[str]) -> list:
    """args minus the "-c key=value" pairs, for shorter messages."""
    shown, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == '-c':
            skip = True
        else:
            shown.append(arg)
    return shown


def git(cwd: str, args: Sequence[str], check: bool = True,
        env: Optional[Mapping[str, str]] = None,
        input_bytes: Optional[bytes] = None
        ) -> 'subprocess.CompletedProcess[bytes]':
    """Run git in cwd, capturing stdout and stderr as bytes."""
    proc = subprocess.run(['git', *args], cwd=cwd, env=_env(env),
                          input=input_bytes,
                          stdin=None if input_bytes is not None
                          else subprocess.DEVNULL, capture_output=True,
                          check=False)
    if check and proc.returncode != 0:
        message = proc.stderr.decode(errors='replace').strip()
        first = message.splitlines()[0] if message else ''
        raise GitError(f'git {" ".join(_without_config(args))} failed (exit '
                       f'{proc.returncode}){": " + first if first else ""}')
    return proc


def git_text(cwd: str, args: Sequence[str],
             env: Optional[Mapping[str, str]] = None) -> str:
    return git(cwd, args, env=env).stdout.decode(errors='replace').strip()


def toplevel(path: str) -> Optional[str]:
    """The top of the git work tree holding path; None if there is none."""
    if not os.path.isdir(path):
        return None
    proc = git(path, ('rev-parse', '--is-inside-work-tree',
                      '--show-toplevel'), check=False)
    lines = proc.stdout.decode(errors='replace').splitlines()
    if proc.returncode != 0 or len(lines) != 2 or lines[0] != 'true':
        return None
    return lines[1]


def status(tree: str) -> bytes:
    """`git status --porcelain=v1 --untracked-files=all --ignored`."""
    return git(tree, STATUS_ARGS).stdout


def short_head(tree: str) -> str:
    proc = git(tree, ('rev-parse', '--short', 'HEAD'), check=False)
    text = proc.stdout.decode(errors='replace').strip()
    return text if proc.returncode == 0 and text else 'HEAD'
