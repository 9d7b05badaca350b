"""The one exception type that turns into "sva-kunit: error: ..." + exit 2."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

ERROR_PREFIX = 'sva-kunit: error: '


class SetupError(Exception):
    """A usage or setup problem the user has to fix before anything runs.

    The message is kept to one line of the form "<what is wrong>; <what to
    do>" so that a user (or a CI log grep) sees cause and remedy together.
    """

    def __init__(self, problem: str, remedy: str) -> None:
        super().__init__(f'{problem}; {remedy}')
        self.problem = problem
        self.remedy = remedy

    def one_line(self) -> str:
        # Paths or tool output could smuggle in newlines; the contract is
        # one line on stderr.
        text = ' '.join(str(self).split('\n'))
        return ERROR_PREFIX + text
