"""A Celery worker as a real OS process, configured only from the environment the way the
Procfile runs it, so a test can SIGKILL, SIGSTOP or restart it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, fields
from pathlib import Path

from freshet.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes `load_settings()` give back exactly `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("FRESHET_") or k in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"))
    }
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if isinstance(value, bool):
            raw = "true" if value else "false"
        elif isinstance(value, tuple):
            raw = ",".join(value)
        else:
            raw = str(value)
        env[env_name(f.name)] = raw
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class WorkerProcess:
    proc: subprocess.Popen
    log_path: Path
    name: str

    @classmethod
    def start(
        cls,
        settings: Settings,
        *,
        queues: str = "reviews,default",
        concurrency: int = 2,
        ready_timeout: float = 30.0,
    ) -> WorkerProcess:
        name = f"fault-{uuid.uuid4().hex[:8]}@%h"
        fd, log = tempfile.mkstemp(prefix="freshet-worker-", suffix=".log")
        os.close(fd)
        cmd = [
            str(CELERY),
            "-A",
            "workers.celery_app",
            "worker",
            "-Q",
            queues,
            "--pool",
            "threads",
            "-c",
            str(concurrency),
            "-n",
            name,
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=settings_env(settings), stdout=out, stderr=subprocess.STDOUT
            )
        worker = cls(proc, Path(log), name)
        worker.wait_ready(ready_timeout)
        return worker

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            if " ready." in self.log():
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no ack, no goodbye to the broker — a machine losing power."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def close(self) -> None:
        # At teardown nothing depends on a clean goodbye, and a warm shutdown costs seconds.
        self.kill()
        self.log_path.unlink(missing_ok=True)
