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
# A goto label at the start of a line; "default:" is none.
_LABEL = re.compile(rb'^([ \t]*)(?!default\b)([A-Za-z_]\w*):(?!:)', re.M)
_STATIC_LOCAL = re.compile(rb'^[ \t]+static\b', re.M)

Span = Tuple[int, int]  # a body's inside: after "{\n", up to its "}\n"


def bodies(text: bytes) -> List[Span]:
    """The inside of every function body, in order."""
    spans: List[Span] = []
    start = None
    at = 0
    for line in text.splitlines(keepends=True):
        if line.rstrip(b'\r\n') == b'{' and start is None:
            start = at + len(line)
        elif line.rstrip(b'\r\n') == b'}' and start is not None:
            spans.append((start, at))
            start = None
        at += len(line)
    return spans


def _outside(text: bytes, spans: Sequence[Span]) -> List[bytes]:
    edges = [0, *(edge for span in spans for edge in span), len(text)]
    return [text[a:b] for a, b in zip(edges[0::2], edges[1::2])]


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
    for body in changed.values():
        if _STATIC_LOCAL.search(body):
            raise ValueError('a function it changes has a static local '
                             'variable, which a copy would not share')
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
    # After the includes that come before the first function (fork.c has
    # one further down), where kstrtoint() and early_param() are known.
    first = spans[0][0] if spans else len(original)
    includes = [m for m in _INCLUDE.finditer(text) if m.end() <= first]
    if not includes:
        raise ValueError('no #include to put the switch after')
    cut = includes[-1].end()
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
        schemata.files[rel] = switch(originals[rel], by_body)
    return schemata, misfits
