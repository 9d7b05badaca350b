"""Mutant schemata: every mutant of a file compiled into it at once, each
behind its own switch chosen on the kernel command line, so that one build
serves every mutant and a mutant costs one boot (Untch et al., 1993).

Kernel style makes the text easy to cut: a function body opens with a
line "{" and closes with the next line "}".  A mutant whose hunks change
only function bodies becomes, in each body it changes,

    {
            if (sva_kunit_mutant == N) {
    <the mutated body, its goto labels renamed>
            } else {
    <the original body>
            }
    }

and the unmutated code runs when no mutant is selected.  A mutant that
changes anything else (a declaration, a macro, a struct) cannot be
switched at run time: it is built the patch-and-rebuild way, and the
reason is reported.
"""

import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Sequence, Tuple

from .mutants import Mutant, NoApply, mutate

# The kernel parameter, one variable per mutated file (all read it).
PARAMETER = 'sva_kunit_mutant'
_SELECTOR = f'''
/* Mutant schemata (sva-kunit mutate): the mutant {PARAMETER}= selects. */
static int {PARAMETER} __ro_after_init;

static int __init {PARAMETER}_setup(char *arg)
{{
\treturn kstrtoint(arg, 10, &{PARAMETER});
}}
early_param("{PARAMETER}", {PARAMETER}_setup);
'''
_INCLUDE = re.compile(rb'^#include [<"].*\n', re.M)
_CONDITIONAL = re.compile(rb'^[ \t]*#[ \t]*(if|ifdef|ifndef|endif)\b')
# A goto label alone on its line; any other line that starts with a
# name and a colon ("default:" and "case X:" aside) is something this
# cannot rename (a label with a statement after it, a bitfield).
_LABEL = re.compile(rb'^([ \t]*)(?!default\b)([A-Za-z_]\w*):[ \t]*(/[*/].*)?$',
                    re.M)
_COLON = re.compile(rb'^[ \t]*(?!default\b|case\b)[A-Za-z_]\w*[ \t]*:(?!:)',
                    re.M)
_STATIC_LOCAL = re.compile(rb'^[ \t]+static\b', re.M)
_MACRO_GOTO = re.compile(rb'^[ \t]*#[ \t]*define\b.*\bgoto\b', re.M)
_ASM_GOTO = re.compile(rb'\basm(_| +volatile *| *)goto\b|\bunsafe_\w+\(')
# What a brace count must skip: comments, strings, character constants.
_NOT_CODE = re.compile(rb'/\*.*?\*/|//[^\n]*|"(\\.|[^"\\\n])*"'
                       rb"|'(\\.|[^'\\\n])*'", re.S)

Span = Tuple[int, int]  # a body's inside: after "{\n", up to its "}\n"


def _balanced(code: bytes) -> bool:
    """Do the braces balance, never closing more than they opened?"""
    depth = 0
    for brace in re.findall(rb'[{}]', _NOT_CODE.sub(b'', code)):
        depth += 1 if brace == b'{' else -1
        if depth < 0:
            return False
    return depth == 0


def bodies(text: bytes) -> List[Span]:
    """The inside of every function body, in order: a line "{" after a
    line ending in ")" up to the next line "}", whose braces balance.
    Anything else (a struct opened so, a body closed by "} /* x */") is
    no body: a mutant there changes code outside one, and is patched."""
    spans: List[Span] = []
    start = None
    at = 0
    before = b''
    for line in text.splitlines(keepends=True):
        bare = line.rstrip(b'\r\n')
        if bare == b'{' and start is None and before.endswith(b')'):
            start = at + len(line)
        elif bare == b'}' and start is not None:
            if _balanced(text[start:at]):
                spans.append((start, at))
            start = None
        if bare.strip():
            before = bare.rstrip()
        at += len(line)
    return spans


def _outside(text: bytes, spans: Sequence[Span]) -> List[bytes]:
    edges = [0, *(edge for span in spans for edge in span), len(text)]
    return [text[a:b] for a, b in zip(edges[0::2], edges[1::2])]


def _labels(body: bytes, file_text: bytes) -> List[bytes]:
    """The goto labels of a body; ValueError where one could be reached
    otherwise than by "goto NAME" in the body, so that renaming the
    copy's would leave a jump into the original."""
    names = sorted({m.group(2) for m in _LABEL.finditer(body)})
    if len(_COLON.findall(body)) != len(_LABEL.findall(body)):
        raise ValueError('a line in a function it changes starts with a '
                         'name and a colon but is no label alone on its '
                         'line (a label with a statement after it, a '
                         'bitfield)')
    if names and (_MACRO_GOTO.search(file_text) or _ASM_GOTO.search(body)):
        raise ValueError('a function it changes has labels that a macro, '
                         'an asm goto or an unsafe_ accessor may jump to')
    for name in names:
        used = len(re.findall(rb'\b' + name + rb'\b', body))
        gotos = len(re.findall(rb'\bgoto\s+' + name + rb'\b', body))
        if used != gotos + 1:
            raise ValueError(f'its label {name.decode()} is used otherwise '
                             'than by goto, or defined twice')
    return names


def _rename_labels(body: bytes, suffix: str) -> bytes:
    names = {m.group(2) for m in _LABEL.finditer(body)}
    for name in names:
        new = name + suffix.encode()
        body = re.sub(rb'\bgoto(\s+)' + name + rb'\b',
                      rb'goto\g<1>' + new, body)
        body = re.sub(rb'^([ \t]*)' + name + rb':(?!:)',
                      rb'\g<1>' + new + b':', body, flags=re.M)
    return body


@dataclass
class Schemata:
    """What `mutate` builds: the switched files, each switched mutant's
    number, and why each other one is built by patching."""
    files: Dict[str, bytes] = field(default_factory=dict)
    numbers: Dict[str, int] = field(default_factory=dict)
    fallback: Dict[str, str] = field(default_factory=dict)


def changed_bodies(original: bytes, mutant: Mutant) -> Dict[int, bytes]:
    """Body index -> the mutated body, for a mutant that changes function
    bodies only; ValueError saying why it cannot be switched (NoApply
    when it does not fit at all)."""
    mutated = mutate(original, mutant)
    old, new = bodies(original), bodies(mutated)
    if len(old) != len(new) or _outside(original, old) != _outside(
            mutated, new):
        raise ValueError('it changes code outside a function body (a '
                         'declaration, a macro, a struct or a function '
                         'boundary)')
    changed = {i: mutated[a:b] for i, (a, b) in enumerate(new)
               if mutated[a:b] != original[old[i][0]:old[i][1]]}
    if not changed:
        raise ValueError('it changes no code')
    for index, body in changed.items():
        # A static local of the mutant's own lives in its copy alone.
        if _STATIC_LOCAL.search(original[old[index][0]:old[index][1]]):
            raise ValueError('a function it changes has a static local '
                             'variable, which a copy would not share')
        _labels(body, mutated)
    return changed


def switch(original: bytes, variants: Mapping[int, Mapping[int, bytes]]
           ) -> bytes:
    """original with the variants (body index -> {mutant number: body})
    behind their switches, and the selector before the first function."""
    spans = bodies(original)
    pieces: List[bytes] = []
    at = 0
    for index, (start, end) in enumerate(spans):
        if index not in variants:
            continue
        pieces.append(original[at:start])
        branches = [b'if (%s == %d) {\n' % (PARAMETER.encode(), number)
                    + _rename_labels(body, f'__sva_mutant_{number}')
                    for number, body in sorted(variants[index].items())]
        pieces.append(b'\t' + b'\t} else '.join(branches) + b'\t} else {\n'
                      + original[start:end] + b'\t}\n')
        at = end
    pieces.append(original[at:])
    text = b''.join(pieces)
    # After the last #include before the first function (fork.c has one
    # further down) that no #if encloses, where kstrtoint() and
    # early_param() are known whatever the configuration.
    first = spans[0][0] if spans else len(original)
    cut, depth, at = None, 0, 0
    for line in text[:first].splitlines(keepends=True):
        at += len(line)
        found = _CONDITIONAL.match(line)
        if found:
            depth += -1 if found.group(1) == b'endif' else 1
        elif depth == 0 and _INCLUDE.match(line):
            cut = at
    if cut is None:
        raise ValueError('no #include outside an #if to put the switch '
                         'after')
    return text[:cut] + _SELECTOR.encode() + text[cut:]


def plan(originals: Mapping[str, bytes], mutants: Sequence[Mutant]
         ) -> Tuple[Schemata, Dict[str, str]]:
    """The schemata of these mutants on these files (tree-relative path ->
    bytes), and why each mutant that does not fit its file does not."""
    schemata = Schemata()
    misfits: Dict[str, str] = {}
    variants: Dict[str, Dict[int, Dict[int, bytes]]] = {}
    for mutant in mutants:
        original = originals.get(mutant.file)
        if original is None:
            misfits[mutant.name] = f'{mutant.file} does not exist in the tree'
            continue
        try:
            changed = changed_bodies(original, mutant)
        except NoApply as e:
            misfits[mutant.name] = str(e)
            continue
        except ValueError as e:
            schemata.fallback[mutant.name] = str(e)
            continue
        number = len(schemata.numbers) + 1
        schemata.numbers[mutant.name] = number
        for index, body in changed.items():
            variants.setdefault(mutant.file, {}).setdefault(
                index, {})[number] = body
    for rel, by_body in variants.items():
        try:
            schemata.files[rel] = switch(originals[rel], by_body)
        except ValueError as e:
            for name, number in list(schemata.numbers.items()):
                if any(number in v for v in by_body.values()):
                    del schemata.numbers[name]
                    schemata.fallback[name] = f'{rel} has {e}'
    return schemata, misfits
