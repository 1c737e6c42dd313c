"""The one exception type that carries a user-facing message."""


class LorascopeError(Exception):
    """Bad input or an unmet precondition; the message names the key, file or line at fault.

    The command line prints it without a traceback and exits with ``exit_code``.
    """

    exit_code = 2


def os_error(exc: OSError) -> str:
    """An operating-system error as one line naming the path: ``runs/x: No space left on device``."""
    what = exc.strerror or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' → '.join(paths)}: {what}" if paths else f"{what} ({exc})"
