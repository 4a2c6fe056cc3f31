"""The one exception type the CLI turns into a one-line message instead of a traceback."""


class DpldmError(Exception):
    """An error the user can fix (bad input, missing file, wrong option); the message says how."""
