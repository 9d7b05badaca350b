"""The project's sources as an upstream patch carries them: compat
conditionals resolved for one tree, invariant numbers dropped.  Pure
text functions; ValueError for what they cannot transform faithfully."""

import os
import re
from typing import Dict, List, Mapping, Optional, Tuple

# The macros the project's C may test, and how to tell their value for a
# tree: the FAKE_IOMMU_* ones by compat.mk, the rest by a kernel header.
COMPAT_MACRO = re.compile(r'FAKE_IOMMU_[A-Z0-9_]+$')
KERNEL_MACROS = {'kzalloc_obj': 'include/linux/slab.h'}

_IFDEF = re.compile(r'^\s*#\s*(ifdef|ifndef)\s+(\w+)\s*(?:/\*.*\*/\s*)?$')
_DIRECTIVE = re.compile(r'^\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b')

# "(I4)", "(I2, I9)", "(I1-I13)": the only form a reference may take, so
# that dropping it leaves the sentence around it whole.
INVARIANT_REF = re.compile(
    r'[ \t]*\(I\d+(?:-I\d+)?(?:, I\d+(?:-I\d+)?)*\)')
_LEFTOVER_REF = re.compile(r'\bI\d+\b')


def is_resolvable(macro: str) -> bool:
    return bool(COMPAT_MACRO.match(macro)) or macro in KERNEL_MACROS


def resolve_conditionals(text: str, defined: Mapping[str, bool],
                         where: str = '') -> str:
    """Keep the branch of every #ifdef/#ifndef on a resolvable macro that
    the tree takes, drop the other and the directives; other conditionals
    pass through.  The caller must know every compat macro."""
    out: List[str] = []
    # One entry per open conditional: None for one that passes through,
    # else whether the current branch is taken.
    stack: List[Optional[bool]] = []
    for number, line in enumerate(text.split('\n'), 1):
        at = f'{where}:{number}' if where else f'line {number}'
        ifdef = _IFDEF.match(line)
        found = _DIRECTIVE.match(line)
        directive = found.group(1) if found else None
        if ifdef and is_resolvable(ifdef.group(2)):
            macro = ifdef.group(2)
            if macro not in defined:
                raise ValueError(f'{at}: no value for {macro}')
            stack.append(defined[macro] == (ifdef.group(1) == 'ifdef'))
            continue
        if directive in ('if', 'ifdef', 'ifndef'):
            if any(map(is_resolvable, re.findall(r'\w+', line))):
                raise ValueError(f'{at}: cannot resolve {line.strip()!r}; '
                                 'use #ifdef or #ifndef on a compat macro')
            stack.append(None)
        elif directive == 'elif' and stack and stack[-1] is not None:
            raise ValueError(f'{at}: #elif in a compat conditional')
        elif directive in ('else', 'endif') and not stack:
            raise ValueError(f'{at}: #{directive} without #if')
        elif directive == 'else' and stack[-1] is not None:
            stack[-1] = not stack[-1]
            continue
        elif directive == 'endif' and stack.pop() is not None:
            continue
        if False not in stack:
            out.append(line)
    if stack:
        raise ValueError(f'{where or "text"}: unterminated conditional')
    # No two blank lines in a row, none before a closing brace: what a
    # dropped branch can leave behind and checkpatch rejects.
    text = re.sub(r'\n{3,}', '\n\n', '\n'.join(out))
    return re.sub(r'\n\n(\t*\}[;,]?\n)', r'\n\1', text)


def strip_invariant_refs(text: str, where: str = '') -> str:
    stripped = INVARIANT_REF.sub('', text)
    for number, line in enumerate(stripped.split('\n'), 1):
        found = _LEFTOVER_REF.search(line)
        if found:
            raise ValueError(f'{where}:{number}: invariant reference '
                             f'{found.group(0)} not in the "(I4)" form: '
                             f'{line.strip()!r}')
    return stripped


def makefile_obj_lines(text: str) -> str:
    """A kbuild Makefile reduced to its SPDX line and obj- lines."""
    keep = [line for line in text.split('\n')
            if line.startswith(('# SPDX-License-Identifier', 'obj-'))]
    return '\n'.join(keep) + '\n'


def kconfig_entries(text: str) -> Tuple[str, Dict[str, str]]:
    """(the lines before the first entry, {symbol: its entry's text})."""
    head, *parts = re.split(r'^(?=config \w+$)', text, flags=re.M)
    return head, {part.split('\n', 1)[0].split()[1]: part.rstrip('\n') + '\n'
                  for part in parts}


def replace_once(text: str, old: str, new: str, where: str) -> str:
    count = text.count(old)
    if count != 1:
        raise ValueError(f'{where}: expected {old.strip()!r} once, found it '
                         f'{count} times')
    return text.replace(old, new)


def maintainers_add_section(text: str, section: str) -> str:
    """Insert a MAINTAINERS section where its title sorts.  The file is
    sorted only locally, so of all the gaps where it sorts, the one beside
    the titles most like it wins."""
    title = section.split('\n', 1)[0]
    blocks = text.split('\n\n')
    heads = [(i, block.split('\n', 1)[0]) for i, block in enumerate(blocks)
             if re.match(r'[A-Z0-9].*\n[A-Z]:\t', block)]
    if any(head == title for _, head in heads):
        raise ValueError(f'MAINTAINERS already has {title!r}')
    gaps = [(max(len(os.path.commonprefix([prev, title])),
                 len(os.path.commonprefix([head, title]))), -i)
            for (_, prev), (i, head) in zip(heads, heads[1:])
            if prev < title < head]
    if not gaps:
        raise ValueError(f'MAINTAINERS: no place for {title!r}')
    blocks.insert(-max(gaps)[1], section.rstrip('\n'))
    return '\n\n'.join(blocks)

