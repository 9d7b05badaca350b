"""The suite as modules, on the tree carrying the series: boot the UML
kernel of a modular build on the host's root directory (hostfs), load the
fake driver and the test modules with Debian's busybox-static, power off,
and judge the log as `run` judges a built-in run (run/kernel_log.py).
kunit.py can build such a kernel but only boots built-in tests."""

import os
import shlex
import subprocess
from dataclasses import dataclass
from typing import List

from ..run.kernel_log import Verdict, judge, summarize

BUSYBOX = '/bin/busybox'
BUSYBOX_PACKAGE = 'busybox-static'
# In load order: the tests need the fake driver's symbols.
MODULES = ('drivers/iommu/fake-iommu/fake-iommu.ko',
           'drivers/iommu/iommu-sva-test.ko',
           'drivers/iommu/iommu-sva-model-test.ko')
# What the modular build needs beyond the suite's own symbols: modules,
# and a root file system on the host's.
KCONFIG = ('CONFIG_MODULES=y', 'CONFIG_IOMMU_SVA_KUNIT_TEST=m',
           'CONFIG_HOSTFS=y')
# The suites a module holds: all but those that need unexported symbols.
SUITES = ('iommu_sva_nobind', 'iommu_sva_bind', 'iommu_sva_pasid',
          'iommu_sva_share', 'iommu_sva_error', 'iommu_sva_group',
          'iommu_sva_race', 'iommu_sva_iopf', 'iommu_sva_device',
          'iommu_sva_model')
BUILT_IN_ONLY = ('iommu_sva_fork', 'iommu_sva_mmlist', 'iommu_sva_leak')
INSMOD_FAILED = 'sva-kunit: insmod failed: '
TIMEOUT_S = 300.0


@dataclass
class ModuleRun:
    passed: bool
    details: List[str]  # why not, or what ran
    log: str


def init_script(build_dir: str) -> str:
    """/init of the UML kernel: the modules in order (a failed insmod
    is said on the console), then power off."""
    # Until proc is mounted, /proc is the host's through hostfs, and
    # busybox, which runs its applets as /proc/self/exe, would run the
    # host's UML binary: the first one by its path.
    lines = ['#!/bin/busybox sh',
             '/bin/busybox mount -t proc proc /proc']
    for rel in MODULES:
        path = shlex.quote(os.path.join(build_dir, rel))
        lines.append(f'busybox insmod {path} || '
                     f'echo "{INSMOD_FAILED}{os.path.basename(rel)}"')
    # reboot(2) at once: init must not exit, which panics.
    lines.append('exec /bin/busybox poweroff -f')
    return '\n'.join(lines) + '\n'


def boot_args(init: str) -> List[str]:
    return ['mem=1G', 'root=/dev/root', 'rootfstype=hostfs', 'rootflags=/',
            'ro', f'init={init}', 'console=tty']


def judge_log(log: str) -> ModuleRun:
    """Every module loaded, every suite of the modules ran and passed,
    none of the built-in ones did, and the log is clean."""
    verdict: Verdict = judge(log)
    problems = [line[len(INSMOD_FAILED):] + ' did not load'
                for line in log.splitlines() if line.startswith(INSMOD_FAILED)]
    ran = {t.name.split('.')[0] for t in verdict.tests}
    problems += [f'suite {name} did not run' for name in SUITES
                 if name not in ran]
    problems += [f'suite {name} ran, though it needs symbols a module '
                 'cannot use' for name in BUILT_IN_ONLY if name in ran]
    if not verdict.passed:
        problems += list(summarize(verdict)) or ['no test results']
    if problems:
        return ModuleRun(False, problems, log)
    tests = len(verdict.tests)
    return ModuleRun(True, [f'{len(SUITES)} suites, {tests} tests passed '
                            'as modules; kernel log clean'], log)


def run_modules(build_dir: str, work_dir: str,
                timeout: float = TIMEOUT_S) -> ModuleRun:
    """Boot build_dir's UML kernel with its modules loaded by init."""
    missing = [rel for rel in MODULES
               if not os.path.isfile(os.path.join(build_dir, rel))]
    if missing:
        return ModuleRun(False, [f'{missing[0]} was not built'], '')
    if not os.access(BUSYBOX, os.X_OK):
        return ModuleRun(False, [f'{BUSYBOX} is missing (Debian package '
                                 f'{BUSYBOX_PACKAGE})'], '')
    init = os.path.join(work_dir, 'sva-kunit-init')
    with open(init, 'w', encoding='utf-8') as f:
        f.write(init_script(os.path.abspath(build_dir)))
    os.chmod(init, 0o755)
    argv = [os.path.join(build_dir, 'linux'), *boot_args(init)]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired as e:
        log = (e.stdout or b'').decode('utf-8', 'replace')
        return ModuleRun(False, [f'the kernel still ran after {timeout:.0f}'
                                 ' s'], log)
    return judge_log(proc.stdout.decode('utf-8', 'replace'))
