"""Per-test-case results, as kunit.py reports them in its --json file.

kunit.py's JSON (KernelCI format, written by its own kunit_json.py) nests
suites as sub_groups and tests as test_cases; a parameterised test becomes
a sub_group of its own whose parameters are the test_cases.  We flatten
that to one entry per KUnit test case, named "suite.test", because that is
the unit a developer fixes and the unit "check" counts.
"""

import json
from dataclasses import dataclass
from typing import Any, Dict, List

PASS, FAIL, SKIP, ERROR = 'PASS', 'FAIL', 'SKIP', 'ERROR'


@dataclass(frozen=True)
class TestResult:
    name: str     # "suite.test" (or just "suite" when it never got to tests)
    status: str   # PASS, FAIL, SKIP or ERROR

    @property
    def passed(self) -> bool:
        return self.status in (PASS, SKIP)


def _combined(statuses: List[str]) -> str:
    """A parameterised test's status from its parameters' statuses."""
    if any(s not in (PASS, SKIP) for s in statuses):
        return ERROR if ERROR in statuses else FAIL
    if statuses and all(s == SKIP for s in statuses):
        return SKIP
    return PASS


def _leaf_statuses(group: Dict[str, Any]) -> List[str]:
    statuses = [case['status'] for case in group.get('test_cases', [])]
    for sub in group.get('sub_groups', []):
        statuses.extend(_leaf_statuses(sub))
    return statuses


def results_from_json(doc: Dict[str, Any]) -> List[TestResult]:
    results: List[TestResult] = []
    # Top-level test_cases are suites that produced no test lines at all
    # (e.g. the kernel crashed first); they still count, as failures.
    for case in doc.get('test_cases', []):
        results.append(TestResult(case['name'], case['status']))
    for suite in doc.get('sub_groups', []):
        for number, case in enumerate(suite.get('test_cases', []), start=1):
            # kunit.py invents nameless cases for those a crash cut off.
            name = case['name'] or f'<test #{number}, never reported>'
            results.append(TestResult(f'{suite["name"]}.{name}',
                                      case['status']))
        for param_test in suite.get('sub_groups', []):
            results.append(TestResult(
                f'{suite["name"]}.{param_test["name"]}',
                _combined(_leaf_statuses(param_test))))
    return results


def load_results(path: str) -> List[TestResult]:
    """Results from a kunit.py --json file; ValueError if unparsable."""
    with open(path, encoding='utf-8') as f:
        return results_from_json(json.load(f))
