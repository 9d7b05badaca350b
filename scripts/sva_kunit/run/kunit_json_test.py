import json
import os
import tempfile
import unittest

from .kunit_json import (ERROR, FAIL, PASS, SKIP, TestResult, load_results,
                         results_from_json)

# Shape written by kunit.py --json (tools/testing/kunit/kunit_json.py).
KUNIT_JSON = {
    'name': 'KUnit Test Group', 'arch': 'um',
    'sub_groups': [{
        'name': 'iommu_sva',
        'sub_groups': [
            {'name': 'iommu_sva_pasid', 'sub_groups': [],
             'test_cases': [{'name': 'pasid=1', 'status': 'PASS'},
                            {'name': 'pasid=2', 'status': 'FAIL'}]},
            {'name': 'iommu_sva_skipped', 'sub_groups': [],
             'test_cases': [{'name': 'p1', 'status': 'SKIP'}]},
        ],
        'test_cases': [{'name': 'iommu_sva_bind', 'status': 'PASS'},
                       {'name': 'iommu_sva_nohw', 'status': 'SKIP'}],
    }],
    'test_cases': [{'name': 'iommu_sva_crashed', 'status': 'ERROR'}],
}


class KunitJsonTest(unittest.TestCase):

    def test_flattens_to_one_result_per_test_case(self):
        self.assertEqual(results_from_json(KUNIT_JSON), [
            TestResult('iommu_sva_crashed', ERROR),
            TestResult('iommu_sva.iommu_sva_bind', PASS),
            TestResult('iommu_sva.iommu_sva_nohw', SKIP),
            TestResult('iommu_sva.iommu_sva_pasid', FAIL),
            TestResult('iommu_sva.iommu_sva_skipped', SKIP),
        ])

    def test_cases_a_crash_cut_off_get_a_name(self):
        doc = {'sub_groups': [{'name': 'iommu_sva_bind', 'sub_groups': [],
                               'test_cases': [
                                   {'name': 'sva_test_a', 'status': 'PASS'},
                                   {'name': '', 'status': 'FAIL'}]}]}
        self.assertEqual(results_from_json(doc)[1], TestResult(
            'iommu_sva_bind.<test #2, never reported>', FAIL))

    def test_load_results(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'r.json')
            with open(path, 'w') as f:
                json.dump(KUNIT_JSON, f)
            self.assertEqual(len(load_results(path)), 5)
            with open(path, 'w') as f:
                f.write('{')
            with self.assertRaises(ValueError):
                load_results(path)


if __name__ == '__main__':
    unittest.main()
