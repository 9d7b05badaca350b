"""Turn the project's sources into what an upstream patch carries.

The project builds against several kernels, so its C has conditionals on
the API differences (FAKE_IOMMU_* macros set by compat.mk) and its
comments cite the lifecycle invariants by number.  A patch for one tree
carries neither: the conditionals are resolved for that tree and the
numbers dropped.  Every function here is pure (text in, text out) and
refuses, with ValueError, what it cannot transform faithfully.
"""

import re
from typing import Dict, List, Mapping, Tuple

# The macros the project's C may test, and how to tell their value for a
# tree: the FAKE_IOMMU_* ones by compat.mk, the rest by a kernel header.
COMPAT_MACRO = re.compile(r'FAKE_IOMMU_[A-Z0-9_]+$')
KERNEL_MACROS = {'kzalloc_obj': 'include/linux/slab.h'}

_IFDEF = re.compile(r'^\s*#\s*(ifdef|ifndef)\s+(\w+)\s*(?:/\*.*\*/\s*)?$')
_IF = re.compile(r'^\s*#\s*if(?:def|ndef)?\b')
_ELSE = re.compile(r'^\s*#\s*else\b')
_ELIF = re.compile(r'^\s*#\s*elif\b')
_ENDIF = re.compile(r'^\s*#\s*endif\b')

# "(I4)", "(I2, I9)", "(I1-I13)": the only form a reference may take, so
# that dropping it leaves the sentence around it whole.
INVARIANT_REF = re.compile(
    r'[ \t]*\(I\d+(?:-I\d+)?(?:, I\d+(?:-I\d+)?)*\)')
_LEFTOVER_REF = re.compile(r'\bI\d+\b')


def is_resolvable(macro: str) -> bool:
    return bool(COMPAT_MACRO.match(macro)) or macro in KERNEL_MACROS


def resolve_conditionals(text: str, defined: Mapping[str, bool],
                         where: str = '') -> str:
    """Keep the branch of every #ifdef/#ifndef on a macro of `defined`
    that the tree takes, drop the other and the directives.

    Conditionals on other macros (include guards, say) pass through.  A
    #if or #elif that names a resolvable macro, or one whose value is not
    given, is an error: the caller must know every compat macro.
    """
    out: List[str] = []
    # One entry per open conditional: None for one that passes through,
    # else whether the current branch is taken.
    stack: List[object] = []

    def emitting() -> bool:
        return all(frame is None or frame for frame in stack)

    for number, line in enumerate(text.split('\n'), 1):
        at = f'{where}:{number}' if where else f'line {number}'
        ifdef = _IFDEF.match(line)
        if ifdef and is_resolvable(ifdef.group(2)):
            macro = ifdef.group(2)
            if macro not in defined:
                raise ValueError(f'{at}: no value for {macro}')
            stack.append(defined[macro] == (ifdef.group(1) == 'ifdef'))
            continue
        if _IF.match(line):
            names = set(re.findall(r'\w+', line))
            if any(is_resolvable(name) for name in names):
                raise ValueError(f'{at}: cannot resolve {line.strip()!r}; '
                                 'use #ifdef or #ifndef on a compat macro')
            stack.append(None)
        elif _ELIF.match(line) and stack and stack[-1] is not None:
            raise ValueError(f'{at}: #elif in a compat conditional')
        elif _ELSE.match(line):
            if not stack:
                raise ValueError(f'{at}: #else without #if')
            if stack[-1] is not None:
                stack[-1] = not stack[-1]
                continue
        elif _ENDIF.match(line):
            if not stack:
                raise ValueError(f'{at}: #endif without #if')
            if stack.pop() is not None:
                continue
        if emitting():
            out.append(line)
    if stack:
        raise ValueError(f'{where or "text"}: unterminated conditional')
    return squeeze_blank_lines('\n'.join(out))


def squeeze_blank_lines(text: str) -> str:
    """No two blank lines in a row, none before a closing brace: what a
    dropped branch can leave behind and checkpatch rejects."""
    text = re.sub(r'\n{3,}', '\n\n', text)
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
    """(the lines before the first entry, {symbol: its entry's text}),
    each entry from its "config" line up to the next one, trailing blank
    lines dropped."""
    parts = re.split(r'^(?=config \w+$)', text, flags=re.M)
    head, entries = parts[0], {}
    for part in parts[1:]:
        name = part.split('\n', 1)[0].split()[1]
        entries[name] = part.rstrip('\n') + '\n'
    return head, entries


def replace_once(text: str, old: str, new: str, where: str) -> str:
    count = text.count(old)
    if count != 1:
        raise ValueError(f'{where}: expected {old.strip()!r} once, found it '
                         f'{count} times')
    return text.replace(old, new)


def insert_before_last(text: str, anchor: str, block: str,
                       where: str) -> str:
    """Insert block (ending in a newline) before the last line equal to
    anchor."""
    lines = text.split('\n')
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].rstrip() == anchor:
            return '\n'.join(lines[:i] + block.rstrip('\n').split('\n')
                             + lines[i:])
    raise ValueError(f'{where}: no line {anchor!r}')


def _is_section(block: str) -> bool:
    lines = block.split('\n')
    return (len(lines) > 1 and bool(re.match(r'^[A-Z0-9]', lines[0]))
            and bool(re.match(r'^[A-Z]:\t', lines[1])))


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def maintainers_add_section(text: str, section: str) -> str:
    """Insert a MAINTAINERS section (title line first) where it sorts:
    between a section titled before it and one titled after it.  The
    file is not strictly sorted, so of all such gaps the one beside the
    titles most like it wins."""
    title = section.split('\n', 1)[0]
    blocks = text.split('\n\n')
    heads = [(i, block.split('\n', 1)[0]) for i, block in enumerate(blocks)
             if _is_section(block)]
    if any(head == title for _, head in heads):
        raise ValueError(f'MAINTAINERS already has {title!r}')
    gaps = [(max(_common_prefix(prev, title), _common_prefix(head, title)),
             i) for (_, prev), (i, head) in zip(heads, heads[1:])
            if prev < title < head]
    if not gaps:
        raise ValueError(f'MAINTAINERS: no place for {title!r}')
    at = max(gaps, key=lambda gap: (gap[0], -gap[1]))[1]
    blocks.insert(at, section.rstrip('\n'))
    return '\n\n'.join(blocks)


def maintainers_add_file(text: str, title: str, pattern: str) -> str:
    """Add "F:\tpattern" to the section titled title, F: lines sorted."""
    blocks = text.split('\n\n')
    for i, block in enumerate(blocks):
        lines = block.split('\n')
        if lines[0] != title:
            continue
        files = [line for line in lines if line.startswith('F:\t')]
        if not files:
            raise ValueError(f'MAINTAINERS: {title} has no F: line')
        first = lines.index(files[0])
        files = sorted(set(files) | {f'F:\t{pattern}'})
        rest = [line for line in lines[first:] if not line.startswith('F:\t')]
        blocks[i] = '\n'.join(lines[:first] + files + rest)
        return '\n\n'.join(blocks)
    raise ValueError(f'MAINTAINERS: no section {title!r}')
