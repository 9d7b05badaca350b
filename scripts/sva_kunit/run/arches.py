"""The architectures the suite runs on, what each needs from Debian, and
for QEMU's, a wrapper that makes kunit.py's QEMU use TCG only."""

import os
import shlex
import shutil
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple

from ..errors import SetupError
from ..tree.fs_journal import atomic_write


@dataclass(frozen=True)
class Arch:
    packages: Tuple[str, ...]      # Debian packages beyond the common ones
    cross_compile: str = ''        # kunit.py's --cross_compile prefix
    qemu: str = ''                 # the QEMU binary kunit.py starts
    # Given to kunit.py's --qemu_args before the user's (a later -cpu
    # wins in QEMU).
    qemu_args: Tuple[str, ...] = ()


ARCHES: Dict[str, Arch] = {
    'um': Arch(()),
    'arm64': Arch(('gcc-aarch64-linux-gnu', 'qemu-system-arm'),
                  cross_compile='aarch64-linux-gnu-',
                  qemu='qemu-system-aarch64',
                  # 7.3's kunit.py dropped pauth-impdef=on from its -cpu
                  # max; Debian 12's QEMU 7.2 then emulates the
                  # architected pointer-authentication algorithm, and the
                  # suite ran 225 s instead of about 45 s under TCG.
                  qemu_args=('-cpu max,pauth-impdef=on',)),
    'x86_64': Arch(('qemu-system-x86',), qemu='qemu-system-x86_64'),
}


def get_arch(name: str) -> Arch:
    try:
        return ARCHES[name]
    except KeyError:
        raise SetupError(f'--arch={name} is not supported (supported: '
                         f'{", ".join(ARCHES)})', 'use --arch=um, arm64 or '
                         'x86_64') from None


# kunit.py from v6.13 on starts QEMU with `-accel kvm -accel hvf -accel
# tcg`, so QEMU takes KVM wherever /dev/kvm opens.  On the virtual
# machines this project runs on, nested KVM opens but does not work (an
# x86_64 guest hangs while it decompresses, or QEMU aborts setting an
# MSR), and the run only ends at its time limit.  TCG is slower but the
# same everywhere.  kunit.py has no option for the accelerator, so it
# finds this wrapper first on its PATH.
WRAPPER = '''#!/bin/sh
# Written by sva-kunit (scripts/sva_kunit/run/arches.py): run QEMU with
# TCG only, whatever -accel options kunit.py gives.
accel=
for arg do
	shift
	if [ -n "$accel" ]; then
		accel=
		[ "$arg" = tcg ] && set -- "$@" -accel tcg
	elif [ "$arg" = -accel ]; then
		accel=1
	else
		set -- "$@" "$arg"
	fi
done
exec {real} "$@"
'''


def tcg_env(cache_dir: str, qemu: str, env: Optional[Mapping[str, str]]
            ) -> Optional[Mapping[str, str]]:
    """`env` (None: ours) with a directory holding the TCG-only wrapper
    of `qemu` (written if missing or stale) first in PATH; unchanged for
    an arch without QEMU (qemu '')."""
    if not qemu:
        return env
    child = dict(os.environ if env is None else env)
    path = child.get('PATH', os.defpath)
    real = shutil.which(qemu, path=path)
    if real is None:
        raise SetupError(f'{qemu} not found on PATH',
                         'install QEMU (the harness does, as root)')
    directory = os.path.join(cache_dir, 'qemu-tcg')
    target = os.path.join(directory, qemu)
    text = WRAPPER.format(real=shlex.quote(real))
    try:
        with open(target, encoding='utf-8') as f:
            stale = f.read() != text
    except OSError:
        stale = True
    if stale:
        os.makedirs(directory, exist_ok=True)
        # Two runs may write it at once; each gets a temporary file.
        atomic_write(target, text.encode(), 0o755)
    child['PATH'] = directory + os.pathsep + path
    return child
