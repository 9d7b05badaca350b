"""Judge the raw kernel log (BUILD_DIR/test.log) beyond KUnit's own verdict:
find every report (KASAN, lockdep, WARNING, ...) and name the test, suite
or boot phase it was printed in, following the log's KTAP lines."""

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

PASS, FAIL, SKIP = 'PASS', 'FAIL', 'SKIP'

# Where a report was printed.
BOOT = 'boot'            # before the first suite
TEST = 'test'            # during a test case
SUITE = 'suite'          # in a suite's exit (or with no test to blame)
OUTSIDE = 'outside'      # between suites or after the last one
UNFINISHED = 'unfinished'  # the kernel died during this test

# (kind, pattern) checked in order against a log line with its timestamp
# and leading blanks removed; the first match names the kind.  Specific
# kinds come before the catch-all "WARNING: "/"BUG: " lines.
REPORT_PATTERNS: Tuple[Tuple[str, 're.Pattern[str]'], ...] = tuple(
    (kind, re.compile(pattern)) for kind, pattern in (
        ('KASAN', r'^BUG: KASAN: '),
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
        # Only the leaks the suite's kmemleak case prints: those allocated
        # by the IOMMU code (kmemleak itself prints objects only with
        # kmemleak.verbose=1, which nothing here sets).  Its own "N new
        # suspected memory leaks" line counts every leak in the kernel, in
        # scope or not, so it is not a report: the case decides.
        ('kmemleak', r'^(# \S+: )?(kmemleak: )?unreferenced object 0x'),
        ('GPF', r'^(Oops: )?general protection fault'),
        ('panic', r'^Kernel panic'),
        ('Oops', r'^(Internal error: )?Oops\b'),
        # UML prints its kernel-mode faults only as panics ("Kernel panic -
        # not syncing: Segfault with no mm", "...: Kernel mode fault at
        # addr 0x0, ip 0x..."), which the panic line above catches.
        ('hung task', r'^INFO: task .* blocked for more than'),
        ('RCU stall', r'^(rcu: )?INFO: rcu\S* (self-)?detected stalls?'),
        ('soft lockup', r'^watchdog: BUG: soft lockup'),
        ('hard lockup', r'^watchdog: Watchdog detected hard LOCKUP'),
        ('WARNING', r'^WARNING: '),
        ('BUG', r'^BUG: '),
    ))

# How specific each kind is: the place of its first pattern above.  One
# splat often matches more than one pattern (in 7.3, unlike 6.12, the
# generic "WARNING: file:line at ..." line comes before "refcount_t:
# underflow; ..."; on x86 "BUG: kernel NULL pointer dereference" comes
# before "Oops:"); its kind is the most specific one.
KIND_RANK: Dict[str, int] = {
    kind: rank for rank, kind in enumerate(
        dict.fromkeys(kind for kind, _ in REPORT_PATTERNS))}


def by_rank(kinds: Iterable[str]) -> List[str]:
    return sorted(dict.fromkeys(kinds),
                  key=lambda kind: KIND_RANK.get(kind, len(KIND_RANK)))


# Lines that match a report pattern but are known harmless wherever they
# appear.  Kept deliberately narrow: each names the file that prints it.
BENIGN_PATTERNS = tuple(re.compile(p) for p in (
    # kunit.py's arch_uml.config enables UML_PCI_OVER_VIRTIO without a
    # device id; every UML boot warns about it.
    r'^WARNING: .* at arch/um/drivers/virt-pci\.c:\d+',
    r'No virtio device ID configured for PCI',
    r'^Using a channel type which is configured out of UML',
))

# A splat spans many lines; lines matching a pattern within one splat are
# merged into one report.  These end a splat.
SPLAT_END = re.compile(r'^(---\[ end trace|={20,}$)')
SPLAT_MAX_LINES = 200

PREFIX = re.compile(r'^\[\s*\d+\.\d+\](\[\s*[A-Z]?\d+\])? ?')
KTAP_VERSION = re.compile(r'^(K?TAP) version \d+\s*$')
SUBTEST = re.compile(r'^# Subtest: (.*?)\s*$')
PLAN = re.compile(r'^1\.\.(\d+)')
RESULT = re.compile(r'^(ok|not ok) (\d+)(?: -)?(?: (.*?))?\s*$')


@dataclass(frozen=True)
class TestResult:
    name: str     # "suite.test" (or just "suite" when it never got to tests)
    status: str   # PASS, FAIL or SKIP


@dataclass
class Report:
    kinds: List[str]
    first_line: str
    line_no: int              # 1-based in test.log
    where: str = BOOT         # BOOT/TEST/SUITE/OUTSIDE/UNFINISHED
    owner: str = ''           # 'suite.test', 'suite' or a description
    detail: str = ''          # e.g. the parameter, or "suite_init too"

    @property
    def kind(self) -> str:
        return by_rank(self.kinds)[0]

    def describe(self) -> str:
        where = {BOOT: 'during boot', OUTSIDE: self.owner}.get(
            self.where, f'in {self.owner}')
        extra = f' ({self.detail})' if self.detail else ''
        return (f'{"+".join(by_rank(self.kinds))} {where}{extra} at '
                f'test.log:{self.line_no}: {self.first_line}')


@dataclass
class TestVerdict:
    name: str
    kunit_status: str        # PASS/FAIL/SKIP/... as KUnit reported it
    reports: List[Report] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.kunit_status in (PASS, SKIP) and not self.reports

    @property
    def skipped(self) -> bool:
        return self.kunit_status == SKIP and not self.reports


@dataclass
class Verdict:
    tests: List[TestVerdict]
    reports: List[Report]            # every one fails the run
    unfinished: str = ''             # the test running when the log ended
    suites_missing: str = ''         # e.g. '2 of 10': never reported

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


def strip_prefix(line: str) -> str:
    """Drop the printk timestamp (and caller id) if there is one."""
    return PREFIX.sub('', line.rstrip('\r\n'), count=1)


@dataclass
class _Group:
    name: str
    indent: int
    results: int = 0          # result lines seen directly in this group
    plan: Optional[int] = None


class _Follower:
    """Walks the log once, tracking the KTAP nesting and the reports."""

    def __init__(self) -> None:
        self.stack: List[_Group] = []
        self.suites_seen: List[str] = []
        self.pending: List[Report] = []
        self.reports: List[Report] = []
        self.results: List[TestResult] = []
        self.splat: Optional[Report] = None
        self.splat_lines = 0
        self.unfinished = ''
        self.suites_planned: Optional[int] = None
        self.suites_missing = ''

    def on_result(self, ok: bool, name: str, directive: str,
                  indent: int) -> None:
        self.splat = None
        if not self.stack:
            return  # a top-level result with no suite open: nothing to do
        group = self.stack[-1]
        status = SKIP if directive.upper().startswith('SKIP') else (
            PASS if ok else FAIL)
        closes = indent < group.indent or (group.indent == 0
                                           and name == group.name)
        path = [g.name for g in self.stack]
        if closes:
            self.stack.pop()
            if len(path) == 1:
                self._resolve(SUITE, path[0], 'suite exit')
                self.suites_seen.append(path[0])
                if group.results == 0:
                    self.results.append(TestResult(path[0], status))
            else:
                self._resolve(TEST, f'{path[0]}.{path[1]}', '')
                if len(path) == 2:
                    self.results.append(TestResult(f'{path[0]}.{path[1]}',
                                                   status))
            if self.stack:
                self.stack[-1].results += 1
            return
        group.results += 1
        if len(path) == 1:
            detail = 'or the suite init' if group.results == 1 else ''
            self._resolve(TEST, f'{path[0]}.{name}', detail)
            self.results.append(TestResult(f'{path[0]}.{name}', status))
        else:
            self._resolve(TEST, f'{path[0]}.{path[1]}', f'parameter {name}')

    def on_report(self, kind: str, text: str, line_no: int) -> None:
        if self.splat is not None:
            self.splat.kinds.append(kind)
            return
        report = Report([kind], text, line_no)
        self.splat, self.splat_lines = report, 0
        self.reports.append(report)
        if self.stack:
            self.pending.append(report)
        elif not self.suites_seen:
            report.where = BOOT
        else:
            report.where = OUTSIDE
            report.owner = f'after suite {self.suites_seen[-1]}'

    def _resolve(self, where: str, owner: str, detail: str) -> None:
        for report in self.pending:
            report.where, report.owner, report.detail = where, owner, detail
        self.pending = []

    def finish(self) -> None:
        """The log ended: a suite still open was cut off in a test (or in
        its exit), which gets whatever reports are pending."""
        if not self.stack:
            planned = self.suites_planned or 0
            if len(self.suites_seen) < planned:
                # Cut off between two suites: the rest never ran.
                self.suites_missing = (f'{planned - len(self.suites_seen)} '
                                       f'of {planned}')
            return
        path = [g.name for g in self.stack]
        top = self.stack[0]
        if len(path) >= 2:
            owner = f'{path[0]}.{path[1]}'
        elif top.plan is not None and top.results >= top.plan:
            self._resolve(SUITE, path[0], 'suite exit; the log ends there')
            return
        else:
            owner = f'{path[0]}.<test #{top.results + 1}>'
        self.unfinished = owner
        self._resolve(UNFINISHED, owner, 'the log ends during this test')


def classify(text: str) -> Optional[str]:
    """The report kind a (prefix-stripped) line starts, or None."""
    body = text.lstrip(' \t')
    if any(p.search(body) for p in BENIGN_PATTERNS):
        return None
    for kind, pattern in REPORT_PATTERNS:
        if pattern.match(body):
            return kind
    return None


# Where a report can start inside a console line that something else
# began: two CPUs (or a test and an interrupt) writing to one console.
# Each start that a REPORT_PATTERNS line can have.
GLUED_REPORT = re.compile(r'(BUG: |WARNING: |UBSAN: |refcount_t: |'
                          r'Kernel panic|INFO: |rcu: INFO: |watchdog: |'
                          r'unreferenced object 0x|kmemleak: |Oops|'
                          r'Internal error: |general protection|\[ BUG: )')


def _unglue(text: str) -> List[str]:
    """A KTAP line with a report glued to its end ("ok 2 fooBUG: KASAN:
    ...") is two lines: the KTAP line and the report."""
    body = text.lstrip(' \t')
    if not (RESULT.match(body) or SUBTEST.match(body)):
        return [text]
    for match in GLUED_REPORT.finditer(text):
        if classify(text[match.start():]) is not None:
            return [text[:match.start()], text[match.start():]]
    return [text]


def _lines(log_text: str) -> Iterable[Tuple[int, str]]:
    for line_no, raw in enumerate(log_text.splitlines(), start=1):
        for text in _unglue(strip_prefix(raw)):
            yield line_no, text


def follow_log(log_text: str
               ) -> Tuple[List[Report], List[TestResult], str, str]:
    """Reports with their owners, the test results seen in the log, the
    test running when the log ended and how many of the planned suites
    never reported ('' if none)."""
    f = _Follower()
    for line_no, text in _lines(log_text):
        body = text.lstrip(' \t')
        indent = len(text.expandtabs(8)) - len(body.expandtabs(8))
        subtest, result = SUBTEST.match(body), RESULT.match(body)
        plan = PLAN.match(body)
        if subtest:
            f.splat = None
            f.stack.append(_Group(subtest.group(1), indent))
        elif result:
            name, _, directive = (result.group(3) or '').partition(' # ')
            if name.startswith('# '):  # "ok 1 # SKIP" with no name
                name, directive = '', name[2:]
            f.on_result(result.group(1) == 'ok', name.strip(),
                        directive.strip(), indent)
        elif plan and f.stack and f.stack[-1].plan is None:
            f.stack[-1].plan = int(plan.group(1))
        elif plan and not f.stack and f.suites_planned is None:
            f.suites_planned = int(plan.group(1))
        elif plan or KTAP_VERSION.match(body):
            continue
        elif (kind := classify(text)) is not None:
            f.on_report(kind, body.strip(), line_no)
        elif f.splat is not None:
            # Lines of a splat; one matching a pattern above is merged
            # into the splat's report.
            f.splat_lines += 1
            if SPLAT_END.match(body) or f.splat_lines > SPLAT_MAX_LINES:
                f.splat = None
    f.finish()
    return f.reports, f.results, f.unfinished, f.suites_missing


def judge(log_text: str, results: Optional[Sequence[TestResult]] = None
          ) -> Verdict:
    """KUnit's results (by default those in the log) with the reports in
    the log: a test KUnit called ok fails on a report printed in it."""
    reports, seen, unfinished, suites_missing = follow_log(log_text)
    if results is None:
        results = seen
    tests = [TestVerdict(r.name, r.status) for r in results]
    by_name: Dict[str, TestVerdict] = {t.name: t for t in tests}
    for report in reports:
        if report.where in (TEST, UNFINISHED) and report.owner in by_name:
            by_name[report.owner].reports.append(report)
    return Verdict(tests, reports, unfinished, suites_missing)


def summarize(verdict: Verdict, limit: int = 3) -> Iterable[str]:
    """Human lines explaining every failure, most useful first."""
    for test in verdict.failed_tests:
        if test.reports and test.kunit_status in (PASS, SKIP):
            kinds = '+'.join(by_rank(
                k for r in test.reports for k in r.kinds))
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
