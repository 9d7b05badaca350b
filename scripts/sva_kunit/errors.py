"""The one exception type that turns into "sva-kunit: error: ..." + exit 2."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

ERROR_PREFIX = 'sva-kunit: error: '
# Set to anything to see the traceback behind an internal error.
DEBUG_ENV = 'SVA_KUNIT_DEBUG'


class SetupError(Exception):
    """A usage or setup problem the user has to fix before anything runs,
    told on one line, "<what is wrong>; <what to do>"."""

    def __init__(self, problem: str, remedy: str) -> None:
        super().__init__(f'{problem}; {remedy}')
        self.problem = problem

    def one_line(self) -> str:
        # Paths or tool output could smuggle in newlines.
        return ERROR_PREFIX + ' '.join(str(self).split('\n'))


class OutputError(Exception):
    """Standard output cannot take what a command writes (closed, a full
    disk, a reader gone), so no verdict can reach the user.  Not a
    SetupError: nothing may take it for a problem of the tree."""
