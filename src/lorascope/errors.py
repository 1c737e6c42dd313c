"""The one exception type that carries a user-facing message."""


class LorascopeError(Exception):
    """Bad input or an unmet precondition; the message names the key, file or line at fault.

    The command line prints it without a traceback and exits with ``exit_code``.
    """

    exit_code = 2
