"""Judge the raw kernel log (BUILD_DIR/test.log): KUnit's results, and
every report (KASAN, lockdep, WARNING, ...) with the test, suite or boot
phase it was printed in, following the log's KTAP lines."""

import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Iterable, List, Optional

PASS, FAIL, SKIP = 'PASS', 'FAIL', 'SKIP'

# Where a report was printed.
BOOT = 'boot'            # before the first suite
TEST = 'test'            # during a test case
SUITE = 'suite'          # in a suite's exit (or with no test to blame)
OUTSIDE = 'outside'      # between suites or after the last one
UNFINISHED = 'unfinished'  # the kernel died during this test

# (kind, pattern) in order, the first match naming the kind: specific
# kinds before the catch-all "WARNING: "/"BUG: " lines.
REPORT_PATTERNS = tuple(
    (kind, re.compile(pattern)) for kind, pattern in (
        ('KASAN', r'^BUG: KASAN: '),
        ('KCSAN', r'^BUG: KCSAN: '),
        ('UBSAN', r'^UBSAN: '),
        ('lockdep', r'^WARNING: (possible circular locking|possible '
                    r'recursive locking|inconsistent lock state|bad unlock '
                    r'balance|held lock freed|suspicious RCU usage|lock held'
                    r'|possible irq lock inversion|Nested lock was not taken'
                    r'|bad contention)'),
        ('lockdep', r'^BUG: (Invalid wait context|MAX_LOCK|held lock)'),
        ('lockdep', r'^\[ BUG: '),
        # Also switches lockdep off for the rest of the boot.
        ('lockdep', r'^INFO: trying to register non-static key'),
        ('lockdep', r'^(INFO|WARNING|BUG): .*\block(dep|ing)\b'),
        ('sleep-in-atomic', r'^BUG: (sleeping function called|scheduling '
                            r'while atomic)'),
        ('refcount', r'^refcount_t: '),
        # Only the leaks the suite's kmemleak case prints (those the IOMMU
        # code allocated): kmemleak's own "N new suspected memory leaks"
        # counts every leak in the kernel, in scope or not.
        ('kmemleak', r'^(# \S+: )?(kmemleak: )?unreferenced object 0x'),
        ('GPF', r'^(Oops: )?general protection fault'),
        ('panic', r'^Kernel panic'),
        ('Oops', r'^(Internal error: )?Oops\b'),
        # UML prints its kernel-mode faults only as panics ("Kernel panic -
        # not syncing: Segfault with no mm"), caught above.
        ('hung task', r'^INFO: task .* blocked for more than'),
        ('RCU stall', r'^(rcu: )?INFO: rcu\S* (self-)?detected stalls?'),
        ('soft lockup', r'^watchdog: BUG: soft lockup'),
        ('hard lockup', r'^watchdog: Watchdog detected hard LOCKUP'),
        ('WARNING', r'^WARNING: '),
        ('BUG', r'^BUG: '),
    ))

# The kinds, most specific first.  One splat often matches several
# patterns (in 7.3 "WARNING: file:line at ..." comes before "refcount_t:
# underflow"); its kind is the most specific one.
KINDS = tuple(dict.fromkeys(kind for kind, _ in REPORT_PATTERNS))


def by_rank(kinds: Iterable[str]) -> List[str]:
    return sorted(set(kinds), key=KINDS.index)


# Lines that match a report pattern but are known harmless wherever they
# appear.  Kept deliberately narrow: each names the file that prints it.
BENIGN_PATTERNS = tuple(re.compile(p) for p in (
    # kunit.py's arch_uml.config enables UML_PCI_OVER_VIRTIO without a
    # device id; every UML boot warns about it.
    r'^WARNING: .* at arch/um/drivers/virt-pci\.c:\d+',
    r'No virtio device ID configured for PCI',
    r'^Using a channel type which is configured out of UML',
))

# A splat spans many lines, all one report.  These end a splat.
SPLAT_END = re.compile(r'^(---\[ end trace|={20,}$)')
SPLAT_MAX_LINES = 200

PREFIX = re.compile(r'^\[\s*\d+\.\d+\](\[\s*[A-Z]?\d+\])? ?')
SUBTEST = re.compile(r'^# Subtest: (.*?)\s*$')
PLAN = re.compile(r'^1\.\.(\d+)')
RESULT = re.compile(r'^(ok|not ok) \d+(?: -)?(?: (.*?))??(?: # (.*?))?\s*$')


@dataclass
class Report:
    kinds: List[str]
    first_line: str
    line_no: int              # 1-based in test.log
    where: str = BOOT         # BOOT/TEST/SUITE/OUTSIDE/UNFINISHED
    owner: str = ''           # 'suite.test', 'suite' or a description
    detail: str = ''          # e.g. the parameter, or "suite_init too"

    def describe(self) -> str:
        where = {BOOT: 'during boot', OUTSIDE: self.owner}.get(
            self.where, f'in {self.owner}')
        extra = f' ({self.detail})' if self.detail else ''
        return (f'{"+".join(by_rank(self.kinds))} {where}{extra} at '
                f'test.log:{self.line_no}: {self.first_line}')


@dataclass
class TestVerdict:
    name: str     # "suite.test" (or just "suite" when it never got to tests)
    kunit_status: str        # PASS, FAIL or SKIP as KUnit reported it
    reports: List[Report] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.kunit_status in (PASS, SKIP) and not self.reports

    @property
    def skipped(self) -> bool:
        return self.kunit_status == SKIP and not self.reports


def classify(text: str) -> Optional[str]:
    """The report kind a (prefix-stripped) line starts, or None."""
    body = text.lstrip(' \t')
    if any(p.search(body) for p in BENIGN_PATTERNS):
        return None
    return next((kind for kind, pattern in REPORT_PATTERNS
                 if pattern.match(body)), None)


# Where a report can start inside a console line that something else
# began: two CPUs (or a test and an interrupt) writing to one console.
GLUED_REPORT = re.compile('|'.join(f'(?:{pattern.pattern[1:]})'
                                   for _, pattern in REPORT_PATTERNS))


class Verdict:
    """The tests and reports in a log, from one walk along its KTAP
    nesting: a test KUnit called ok fails on a report printed in it."""

    def __init__(self, log_text: str) -> None:
        self.tests: List[TestVerdict] = []
        self.reports: List[Report] = []  # every one fails the run
        self.unfinished = ''             # the test running when the log ended
        self.suites_missing = ''         # e.g. '2 of 10': never reported
        # The open KTAP groups (suite, parameterised test): each with the
        # result lines seen directly in it and its plan.
        self.stack: List[SimpleNamespace] = []
        self.suites_seen: List[str] = []
        self.suites_planned: Optional[int] = None
        self.pending: List[Report] = []  # printed in a group still open
        self.splat: Optional[Report] = None  # lines may merge into it
        for line_no, raw in enumerate(log_text.splitlines(), start=1):
            # Less the printk timestamp and caller id.
            self.line(line_no, PREFIX.sub('', raw, count=1))
        # The log ended: a suite still open was cut off in a test (or in
        # its exit), which gets whatever reports are pending.
        top = self.stack[0] if self.stack else None
        if top is None:
            planned = self.suites_planned or 0
            if len(self.suites_seen) < planned:
                # Cut off between two suites: the rest never ran.
                self.suites_missing = (f'{planned - len(self.suites_seen)} '
                                       f'of {planned}')
        elif len(self.stack) == 1 and top.plan is not None and \
                top.results >= top.plan:
            self.resolve(SUITE, top.name, 'suite exit; the log ends there')
        else:
            self.unfinished = (f'{top.name}.{self.stack[1].name}'
                               if len(self.stack) > 1 else
                               f'{top.name}.<test #{top.results + 1}>')
            self.resolve(UNFINISHED, self.unfinished,
                         'the log ends during this test')
        # Then each test gets the reports printed in it.
        by_name = {t.name: t for t in self.tests}
        for report in self.reports:
            if report.where in (TEST, UNFINISHED) and \
                    report.owner in by_name:
                by_name[report.owner].reports.append(report)

    @property
    def log_clean(self) -> bool:
        return not self.reports

    @property
    def failed_tests(self) -> List[TestVerdict]:
        return [t for t in self.tests if not t.passed]

    @property
    def passed(self) -> bool:
        # A log that ends inside a test (the kernel was stopped, or died
        # without a word) never passes, whatever the tests before it said.
        return (bool(self.tests) and self.log_clean and not self.failed_tests
                and not self.unfinished and not self.suites_missing)

    def line(self, line_no: int, text: str) -> None:
        body = text.lstrip(' \t')
        indent = len(text.expandtabs(8)) - len(body.expandtabs(8))
        subtest, result = SUBTEST.match(body), RESULT.match(body)
        plan = PLAN.match(body)
        # A KTAP line with a report glued to its end ("ok 2 fooBUG: KASAN:
        # ...") is two lines: the KTAP line and the report.
        glued = (subtest or result) and next(
            (m.start() for m in GLUED_REPORT.finditer(text)
             if classify(text[m.start():])), None)
        if glued:
            self.line(line_no, text[:glued])
            self.line(line_no, text[glued:])
        elif subtest:
            self.splat = None
            self.stack.append(SimpleNamespace(
                name=subtest.group(1), indent=indent, results=0, plan=None))
        elif result:
            self.splat = None
            status = PASS if result.group(1) == 'ok' else FAIL
            if (result.group(3) or '').upper().startswith('SKIP'):
                status = SKIP
            if self.stack:  # else a top-level result with no suite open
                self.result((result.group(2) or '').strip(), status, indent)
        elif plan:
            if self.stack and self.stack[-1].plan is None:
                self.stack[-1].plan = int(plan.group(1))
            elif not self.stack and self.suites_planned is None:
                self.suites_planned = int(plan.group(1))
        elif (kind := classify(body)) and self.splat:
            self.splat.kinds.append(kind)  # one splat, one report
        elif kind:
            self.splat = Report([kind], body.strip(), line_no)
            self.reports.append(self.splat)
            if self.stack:
                self.pending.append(self.splat)
            elif self.suites_seen:
                self.splat.where = OUTSIDE
                self.splat.owner = f'after suite {self.suites_seen[-1]}'
        elif self.splat is not None and (
                SPLAT_END.match(body)
                or line_no > self.splat.line_no + SPLAT_MAX_LINES):
            self.splat = None

    def result(self, name: str, status: str, indent: int) -> None:
        group = self.stack[-1]
        path = [g.name for g in self.stack]
        # A result less indented than its group (or, unindented, named
        # like it) closes the group: a suite, or a parameterised test.
        if indent < group.indent or (group.indent == 0 and
                                     name == group.name):
            self.stack.pop()
            if self.stack:
                self.stack[-1].results += 1
            detail = ''
        else:
            group.results += 1
            path.append(name)
            detail = (f'parameter {name}' if len(path) > 2 else
                      'or the suite init' if group.results == 1 else '')
        if len(path) == 1:
            self.resolve(SUITE, path[0], 'suite exit')
            self.suites_seen.append(path[0])
            if group.results == 0:
                self.tests.append(TestVerdict(path[0], status))
            return
        self.resolve(TEST, f'{path[0]}.{path[1]}', detail)
        if len(path) == 2:
            self.tests.append(TestVerdict(f'{path[0]}.{path[1]}', status))

    def resolve(self, where: str, owner: str, detail: str) -> None:
        for report in self.pending:
            report.where, report.owner, report.detail = where, owner, detail
        self.pending = []


judge = Verdict  # judge(log_text) -> Verdict


def summarize(verdict: Verdict, limit: int = 3) -> Iterable[str]:
    """Human lines explaining every failure, most useful first."""
    for test in verdict.failed_tests:
        if test.kunit_status != FAIL:  # failed on a report
            kinds = '+'.join(by_rank(k for r in test.reports
                                     for k in r.kinds))
            yield (f'{test.name}: KUnit said ok but the kernel log has '
                   f'{kinds}')
        else:
            yield f'{test.name}: {test.kunit_status}'
    if verdict.unfinished:
        yield (f'the log ends inside {verdict.unfinished}: the kernel '
               'stopped (killed, hung or died) before the run finished')
    elif verdict.suites_missing:
        yield (f'the log ends between two suites; {verdict.suites_missing} '
               'suites never reported')
    for report in verdict.reports[:limit]:
        yield report.describe()
    if len(verdict.reports) > limit:
        yield f'... and {len(verdict.reports) - limit} more kernel log reports'
