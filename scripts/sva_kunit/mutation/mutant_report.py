"""How `mutate` shows its results: --list lines, progress lines, the
table (plain and GitHub markdown), the summary line and the JSON file."""

import json
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from .mutant_outcome import (BUILD_ERROR, KILLED, NO_APPLY, SURVIVED, TIMEOUT,
                             MutantResult, exit_code)
from .mutants import Mutant

HEADINGS = ('mutant', 'invariant', 'result', 'failed tests / sanitizer',
            'seconds')
MAX_TESTS = 2  # failed test names shown per row; the JSON has them all


def list_lines(mutants: Sequence[Mutant]) -> List[str]:
    width = max((len(m.name) for m in mutants), default=0)
    inv_width = max((len(','.join(m.invariants)) for m in mutants),
                    default=0)
    lines = []
    for m in mutants:
        parts = [m.name.ljust(width), ','.join(m.invariants).ljust(inv_width)]
        if m.trees:
            parts.append('trees ' + ' '.join(m.trees))
        if m.fix:
            parts.append(f'fix {m.fix}')
        if m.known_survivor:
            parts.append('(known survivor)')
        lines.append('  '.join(parts).rstrip())
    return lines


def evidence(result: MutantResult) -> str:
    """The "failed tests / sanitizer" cell."""
    parts = []
    if result.failed_tests:
        names = result.failed_tests[:MAX_TESTS]
        more = len(result.failed_tests) - len(names)
        parts.append(', '.join(names) + (f', +{more} more' if more else ''))
    if result.sanitizers:
        parts.append('+'.join(result.sanitizers))
    note = ' '.join(result.note.split())
    if note and not (result.result == KILLED and note == 'timeout'):
        parts.append(note)  # the label already says "killed (timeout)"
    return ' / '.join(parts)


def rows(results: Sequence[MutantResult]) -> List[Sequence[str]]:
    return [(r.mutant.name, ','.join(r.mutant.invariants), r.label,
             evidence(r), f'{r.seconds:.0f}') for r in results]


def table(results: Sequence[MutantResult]) -> List[str]:
    body = rows(results)
    widths = [max(len(row[i]) for row in [HEADINGS] + body)
              for i in range(len(HEADINGS))]

    def line(row: Sequence[str]) -> str:
        return '  '.join(cell.rjust(w) if i == len(row) - 1 else
                         cell.ljust(w) for i, (cell, w)
                         in enumerate(zip(row, widths))).rstrip()
    return [line(HEADINGS), line(['-' * w for w in widths])] + [
        line(row) for row in body]


def markdown(results: Sequence[MutantResult]) -> List[str]:
    def line(row: Sequence[str]) -> str:
        return '| ' + ' | '.join(cell.replace('|', '\\|') for cell in row) \
            + ' |'
    return [line(HEADINGS), '|' + '---|' * (len(HEADINGS) - 1) + '--:|'] + [
        line(row) for row in rows(results)]


def progress_line(index: int, total: int, result: MutantResult) -> str:
    cell = evidence(result)
    return (f'sva-kunit: [{index}/{total}] {result.mutant.name}: '
            f'{result.label} in {result.seconds:.0f} s'
            + (f': {cell}' if cell else ''))


@dataclass
class Summary:
    total: int
    counts: Dict[str, int]
    killed: int            # among mutants not marked Survivor
    judged: int            # total minus known survivors
    known_killed: List[str]
    average_s: Optional[float]

    @property
    def kill_rate(self) -> Optional[float]:
        return self.killed / self.judged if self.judged else None


def summarize(results: Sequence[MutantResult]) -> Summary:
    counts = {name: sum(r.result == name for r in results) for name in
              (KILLED, SURVIVED, BUILD_ERROR, TIMEOUT, NO_APPLY)}
    ordinary = [r for r in results if not r.mutant.known_survivor]
    ran = [r.seconds for r in results if r.result != NO_APPLY]
    return Summary(len(results), counts,
                   sum(r.result == KILLED for r in ordinary), len(ordinary),
                   [r.mutant.name for r in results
                    if r.mutant.known_survivor and r.result == KILLED],
                   sum(ran) / len(ran) if ran else None)


def summary_line(results: Sequence[MutantResult], baseline_s: float) -> str:
    s = summarize(results)
    counts = ', '.join(f'{n} {name}' for name, n in s.counts.items()
                       if n or name in (KILLED, SURVIVED))
    rate = (f'{s.killed}/{s.judged} = {100 * s.kill_rate:.0f}%'
            if s.kill_rate is not None else 'n/a')
    known = len(results) - s.judged
    text = (f'sva-kunit: {s.total} mutants: {counts}; kill rate {rate} '
            f'(killed / (total - {known} known survivors))')
    if s.known_killed:
        text += f'; known survivor(s) killed: {", ".join(s.known_killed)}'
    if s.average_s is not None:
        text += (f'; {s.average_s:.0f} s per mutant after a '
                 f'{baseline_s:.0f} s baseline')
    return text


def to_json(results: Sequence[MutantResult], baseline_s: float,
            tree: str) -> str:
    s = summarize(results)
    return json.dumps({
        'tree': tree,
        'baseline_seconds': round(baseline_s, 1),
        'average_seconds': (round(s.average_s, 1) if s.average_s is not None
                            else None),
        'counts': s.counts,
        'kill_rate': s.kill_rate,
        'exit_code': exit_code(results),
        'mutants': [{
            'name': r.mutant.name, 'file': r.mutant.file,
            'invariants': list(r.mutant.invariants), 'fix': r.mutant.fix,
            'known_survivor': r.mutant.known_survivor, 'result': r.result,
            'ok': r.ok, 'failed_tests': r.failed_tests,
            'sanitizers': r.sanitizers, 'note': r.note,
            'seconds': round(r.seconds, 1), 'log': r.log,
        } for r in results]}, indent=2) + '\n'
