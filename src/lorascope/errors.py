"""The one exception type that carries a user-facing, single-line message."""


class LorascopeError(Exception):
    """Bad input or an unmet precondition; the message names the key, file or line at fault.

    The command line prints it as one line (no traceback) and exits non-zero.
    """
