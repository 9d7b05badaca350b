import unittest

from .kunit_runner import BUILDING, CONFIGURING, RUN, STARTING
from .suite_run import RunOptions, kunit_argv


class KunitArgvTest(unittest.TestCase):

    def test_each_stage_gets_the_options_it_takes(self):
        options = RunOptions('/c', filter_glob='iommu_sva.*',
                             kconfig_add=['CONFIG_KASAN=y'],
                             qemu_args=['-smp 2'], kernel_args=['k=1'],
                             run_timeout=60, arch='arm64', jobs=4,
                             repo_root='/r')

        def command(stage):
            return kunit_argv(options, stage, '/b', '/r.json',
                              ['CC=ccache gcc'])
        common = ['--kunitconfig=drivers/iommu', '--build_dir=/b',
                  '--arch=arm64']
        tail = ['--kconfig_add=CONFIG_KASAN=y', '--make_options=CC=ccache gcc',
                '--cross_compile=aarch64-linux-gnu-',
                '--qemu_args=-cpu max,pauth-impdef=on', '--qemu_args=-smp 2']
        boot = ['--kernel_args=kasan_multi_shot', '--kernel_args=k=1',
                '--timeout=60', '--json=/r.json']
        self.assertEqual(command(CONFIGURING), [
            'python3', 'tools/testing/kunit/kunit.py', 'config', *common,
            *tail])
        self.assertEqual(command(BUILDING)[2:], ['build', *common,
                                                 '--jobs=4', *tail])
        self.assertEqual(command(STARTING)[2:], ['exec', *common, *boot,
                                                 *tail, 'iommu_sva.*'])
        self.assertEqual(command(RUN)[2:], ['run', *common, '--jobs=4',
                                            *boot, *tail, 'iommu_sva.*'])


if __name__ == '__main__':
    unittest.main()
