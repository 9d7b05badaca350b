"""The architectures the suite runs on, and what each needs from Debian.

UML is the quick default. arm64 and x86_64 run under QEMU through
kunit.py's own QEMU configurations (tools/testing/kunit/qemu_configs/).
"""

from dataclasses import dataclass
from typing import Dict, Tuple

from ..errors import SetupError


@dataclass(frozen=True)
class Arch:
    name: str                      # kunit.py's --arch
    packages: Tuple[str, ...]      # Debian packages beyond the common ones
    cross_compile: str = ''        # kunit.py's --cross_compile prefix
    compiler: str = 'gcc'          # what ccache wraps
    qemu: str = ''                 # the QEMU binary kunit.py starts
    # Given to kunit.py's --qemu_args before the user's (a later -cpu
    # wins in QEMU).
    qemu_args: Tuple[str, ...] = ()

    @property
    def make_cc(self) -> str:
        return f'ccache {self.compiler}'


ARCHES: Dict[str, Arch] = {
    'um': Arch('um', ()),
    'arm64': Arch('arm64', ('gcc-aarch64-linux-gnu', 'qemu-system-arm'),
                  cross_compile='aarch64-linux-gnu-',
                  compiler='aarch64-linux-gnu-gcc',
                  qemu='qemu-system-aarch64',
                  # 7.3's kunit.py dropped pauth-impdef=on from its -cpu
                  # max; Debian 12's QEMU 7.2 then emulates the
                  # architected pointer-authentication algorithm, and the
                  # suite ran 225 s instead of about 45 s under TCG.
                  qemu_args=('-cpu max,pauth-impdef=on',)),
    'x86_64': Arch('x86_64', ('qemu-system-x86',),
                   qemu='qemu-system-x86_64'),
}


def get_arch(name: str) -> Arch:
    try:
        return ARCHES[name]
    except KeyError:
        raise SetupError(f'--arch={name} is not supported (supported: '
                         f'{", ".join(ARCHES)})', 'use --arch=um, arm64 or '
                         'x86_64') from None
