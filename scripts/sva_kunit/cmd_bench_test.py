import json
import os
import unittest
from unittest import mock

from . import cmd_bench
from .cli_test import CliTestCase
from .cmd_bench import COLD, FRESH, RERUN, TOUCHED, step
from .run import suite_run


class FormatTableTest(unittest.TestCase):

    def test_table_has_ratio_target_and_verdict(self):
        lines = cmd_bench.format_table([
            step(COLD, 110.0, True, 100.0, True),
            step(RERUN, 10.6, True, 10.0, True),
            step(TOUCHED, 20.0, False, 20.0, True)])
        self.assertEqual(lines[0].split(), ['step', 'sva-kunit', 'plain',
                                            'ratio', 'target', 'met'])
        self.assertTrue(lines[1].startswith(COLD))
        self.assertIn('1.100  <=1.10  yes', lines[1])
        self.assertIn('1.060  <=1.05  NO', lines[2])
        self.assertIn('(failed)', lines[3])
        self.assertTrue(lines[3].endswith('NO'))


class BenchCommandTest(CliTestCase):

    def split_calls(self):
        calls = self.calls()
        return ([c for c in calls if c['argv'][0] != 'run'],
                [c for c in calls if c['argv'][0] == 'run'])

    def test_runs_both_paths_three_times_in_order(self):
        json_path = os.path.join(self._tmp.name, 'bench.json')
        sva_mtime = os.path.join(self.tree, 'drivers/iommu/iommu-sva.c')
        os.utime(sva_mtime, (1, 1))
        rc, out, err = self.main('bench', f'--kernel={self.tree}',
                                 f'--cache-dir={self.cache}',
                                 f'--json={json_path}')
        self.assertEqual(err, '')
        self.assertIn(rc, (0, 1))
        # Three steps on both paths, then sva-kunit in a fresh build dir;
        # sva-kunit runs config, build and exec, plain kunit.py `run`.
        sva_calls, plain_calls = self.split_calls()
        self.assertEqual([c['argv'][0] for c in sva_calls],
                         ['config', 'build', 'exec'] * 4)
        self.assertEqual(len(plain_calls), 3)
        ccache_dirs = {c['ccache_dir'] for c in sva_calls}
        self.assertEqual(len(ccache_dirs), 1)
        self.assertTrue(ccache_dirs.pop().startswith(self.cache))
        for call in sva_calls:
            self.assertIn('--make_options=CC=ccache gcc', call['argv'])
        build_dirs = set()
        for call in plain_calls:
            self.assertEqual(call['argv'][:3], [
                'run', '--kunitconfig=drivers/iommu',
                '--kunitconfig=tools/testing/kunit/configs/iommu_sva.config'])
            self.assertFalse(any(a.startswith(('--make_options', '--json'))
                                 for a in call['argv']))
            build_dirs.add(call['argv'][3])
        self.assertEqual(len(build_dirs), 1)
        self.assertNotEqual(build_dirs, {sva_calls[0]['argv'][3]})
        self.assertGreater(os.stat(sva_mtime).st_mtime, 1)
        with open(json_path) as f:
            doc = json.load(f)
        self.assertEqual([s['name'] for s in doc['steps']],
                         [COLD, RERUN, TOUCHED, FRESH])
        self.assertNotEqual(sva_calls[9]['argv'][3], sva_calls[0]['argv'][3])
        self.assertIn('target', doc['steps'][0])
        # Fresh build dirs are removed afterwards unless --keep.
        self.assertFalse([d for d in os.listdir(self.cache)
                          if d.startswith('bench-')])
        self.assertIn('ratio', out)

    def test_plain_kunit_py_gets_the_harness_arch_arguments(self):
        with mock.patch.object(suite_run, 'ensure_packages'):
            rc, out, err = self.main('bench', f'--kernel={self.tree}',
                                     f'--cache-dir={self.cache}',
                                     '--arch=arm64', '--qemu-args=-smp 2',
                                     '--kconfig-add=CONFIG_KCSAN=y')
        self.assertEqual(err, '')
        self.assertIn(rc, (0, 1))
        sva_calls, plain_calls = self.split_calls()
        wrapper = os.path.join(self.cache, 'qemu-tcg')
        for call in sva_calls + plain_calls:
            self.assertEqual(call['path'].split(os.pathsep)[0], wrapper)
        # Both sides run the same command but for the build dir and what
        # the harness adds: ccache and its JSON file.

        def same_part(calls):
            return sorted({a for call in calls for a in call['argv'][1:]
                           if not a.startswith(('--build_dir=',
                                                '--make_options=',
                                                '--json='))})
        self.assertEqual(same_part(plain_calls[:1]), same_part(sva_calls[:3]))
        for option in ('--arch=arm64', '--cross_compile=aarch64-linux-gnu-',
                       '--qemu_args=-cpu max,pauth-impdef=on',
                       '--qemu_args=-smp 2', '--kconfig_add=CONFIG_KCSAN=y'):
            self.assertIn(option, plain_calls[0]['argv'])


if __name__ == '__main__':
    unittest.main()
