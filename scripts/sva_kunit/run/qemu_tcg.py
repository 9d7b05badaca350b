"""Make kunit.py's QEMU runs use TCG only.

kunit.py from v6.13 on starts QEMU with `-accel kvm -accel hvf -accel
tcg`, so QEMU takes KVM wherever /dev/kvm opens. On the virtual machines
this project runs on, nested KVM opens but does not work: an x86_64
guest hangs while it decompresses (default CPU) or QEMU aborts setting
an MSR (`-cpu max`, `-cpu host`), and the run only ends at its time
limit. TCG is slower but the same everywhere (the whole suite takes
about 30 s of it on x86_64). kunit.py has no option for the accelerator,
so kunit.py finds, first on its PATH, a QEMU wrapper that drops every
`-accel` but tcg and runs the real QEMU.
"""

import os
import shlex
import shutil
from typing import Dict, Mapping, Optional

from ..errors import SetupError
from ..tree.fs_journal import atomic_write

WRAPPER = '''#!/bin/sh
# Written by sva-kunit (scripts/sva_kunit/run/qemu_tcg.py): run QEMU with
# TCG only, whatever -accel options kunit.py gives.
accel=
for arg do
	shift
	if [ -n "$accel" ]; then
		accel=
		[ "$arg" = tcg ] && set -- "$@" -accel tcg
		continue
	fi
	if [ "$arg" = -accel ]; then
		accel=1
		continue
	fi
	set -- "$@" "$arg"
done
exec {real} "$@"
'''


def wrapper_text(real_qemu: str) -> str:
    return WRAPPER.format(real=shlex.quote(real_qemu))


def wrapper_dir(cache_dir: str, qemu: str,
                env: Optional[Mapping[str, str]] = None) -> str:
    """A directory holding the TCG-only wrapper for the QEMU binary named
    `qemu` (qemu-system-x86_64, say), written if missing or stale."""
    path = (env if env is not None else os.environ).get('PATH', os.defpath)
    real = shutil.which(qemu, path=path)
    if real is None:
        raise SetupError(f'{qemu} not found on PATH',
                         'install QEMU (the harness does, as root)')
    directory = os.path.join(cache_dir, 'qemu-tcg')
    target = os.path.join(directory, qemu)
    text = wrapper_text(real)
    try:
        with open(target, encoding='utf-8') as f:
            if f.read() == text:
                return directory
    except OSError:
        pass
    os.makedirs(directory, exist_ok=True)
    # Two runs may write it at once; each gets a temporary file of its own.
    atomic_write(target, text.encode(), 0o755)
    return directory


def tcg_env(cache_dir: str, qemu: str,
            env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """`env` (default: ours) with the wrapper's directory first in PATH."""
    child = dict(os.environ if env is None else env)
    directory = wrapper_dir(cache_dir, qemu, child)
    child['PATH'] = directory + os.pathsep + child.get('PATH', os.defpath)
    return child
