"""Text in aligned columns, for the tables commands print."""

from typing import List, Sequence


def align(rows: Sequence[Sequence[str]], right_last: bool = False
          ) -> List[str]:
    """Columns two blanks apart, the last right-aligned if right_last."""
    widths = [max(map(len, column)) for column in zip(*rows)]
    return ['  '.join(cell.rjust(w) if right_last and i == len(widths) - 1
                      else cell.ljust(w) for i, (cell, w)
                      in enumerate(zip(row, widths))).rstrip() for row in rows]
