"""The one exception type for mistakes a user can make; the CLI prints its message as one line."""


class DauError(Exception):
    """A user-caused problem. The message says what is wrong and how to fix it."""
