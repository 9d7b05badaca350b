"""The harness's layers: a command module (cmd_*.py) uses services and
never another command; no service imports a command."""

import ast
import os
import unittest

PACKAGE = os.path.dirname(os.path.abspath(__file__))
SERVICE_DIRS = ('tree', 'run', 'mutation', 'bisect', 'upstream')


def imported_modules(path: str) -> set:
    """The sva_kunit modules a file imports, as names relative to the
    package ('cmd_run', 'run.suite_run', ...)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    here = os.path.relpath(os.path.dirname(path), PACKAGE).split(os.sep)
    here = [] if here == ['.'] else here
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = here[:len(here) - (node.level - 1)]
        module = base + (node.module.split('.') if node.module else [])
        if node.module:
            found.add('.'.join(module))
        for alias in node.names:  # "from . import cmd_run"
            found.add('.'.join(module + [alias.name]))
    return found


def is_command(module: str) -> bool:
    return module.split('.')[-1].startswith('cmd_') and '.' not in module


class LayersTest(unittest.TestCase):

    def modules(self):
        for dirpath, _, names in os.walk(PACKAGE):
            for name in names:
                if name.endswith('.py') and not name.endswith('_test.py'):
                    path = os.path.join(dirpath, name)
                    yield os.path.relpath(path, PACKAGE)[:-3].replace(
                        os.sep, '.'), path

    def test_commands_import_no_command(self):
        for module, path in self.modules():
            if is_command(module):
                with self.subTest(module=module):
                    self.assertEqual(
                        sorted(m for m in imported_modules(path)
                               if is_command(m)), [])

    def test_services_import_no_command(self):
        for module, path in self.modules():
            if module.split('.')[0] in SERVICE_DIRS or not (
                    is_command(module) or module == 'cli'):
                with self.subTest(module=module):
                    self.assertEqual(
                        sorted(m for m in imported_modules(path)
                               if is_command(m)), [])

    def test_the_checker_sees_a_command_import(self):
        self.assertIn('cmd_run', imported_modules(
            os.path.join(PACKAGE, 'cli.py')))


if __name__ == '__main__':
    unittest.main()
