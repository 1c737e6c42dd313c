"""Servers the serving tests start on 127.0.0.1: a free port, and waiting for /health."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthy(url: str, process: subprocess.Popen, seconds: float) -> bool:
    """Whether ``url``/health answers within ``seconds`` while ``process`` runs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            return True
        except OSError:
            time.sleep(0.5)
    return False
