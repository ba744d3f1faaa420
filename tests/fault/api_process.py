"""The API as a real gunicorn process, configured from the environment as the Procfile runs
it, so a test can SIGKILL it while a request is waiting."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from freshet.settings import Settings
from tests.fault.workers import ROOT, settings_env
from tests.services import free_port

GUNICORN = Path(sys.executable).with_name("gunicorn")


@dataclass
class ApiProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @classmethod
    def start(cls, settings: Settings, timeout: float = 30.0) -> ApiProcess:
        port = free_port()
        fd, log = tempfile.mkstemp(prefix="freshet-api-", suffix=".log")
        os.close(fd)
        cmd = [
            str(GUNICORN),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "api.app:wsgi()",
        ]
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=settings_env(settings),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the workers too
            )
        api = cls(proc, f"http://127.0.0.1:{port}", Path(log))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"API exited: {api.log_path.read_text(errors='replace')}")
            try:
                if requests.request("GET", api.url + "/healthz", timeout=1).ok:
                    return api
            except requests.RequestException:  # not listening yet, or still importing
                time.sleep(0.1)
        api.kill()
        raise RuntimeError("API not ready")

    def kill(self) -> None:
        """SIGKILL the master and its workers: no request handler gets to finish anything."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
