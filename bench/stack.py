"""Everything one bench run starts on this machine, and takes down again (even on Ctrl-C):
its own Redis server, its own Postgres database, the simulator, gunicorn and Celery workers.

Each child runs in a session of its own, so a Ctrl-C reaches only the bench, which then stops
its children in order, by their process group ids.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import redis
import requests

from tests.services import create_database, drop_database, free_port

if TYPE_CHECKING:
    from freshet.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
WORKER_QUEUES = ("interactive", "reviews", "batch", "default", "bench")
REVIEW_MARKETPLACE = "amazon.de"


class BenchError(RuntimeError):
    pass


def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (requests.RequestException, redis.RedisError, OSError):
            pass
        time.sleep(every)
    raise BenchError(f"{what} did not come up within {timeout:.0f}s")


class Proc:
    """One child process (and its descendants): start, measure, stop."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path):
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.ps = psutil.Process(self.popen.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise BenchError(
                f"{self.name} exited with {self.popen.returncode}; "
                f"last lines of {self.log_path}:\n{self.tail()}"
            )

    def alive_and(self, ready: Callable[[], bool]) -> bool:
        """check_alive(), then `ready()`: a wait_until check that fails fast if it died."""
        self.check_alive()
        return ready()

    def tail(self, n: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def tree(self) -> list[psutil.Process]:
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self.tree():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def rss_bytes(self) -> int:
        total = 0
        for p in self.tree():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            # The child leads its own session: its process group id is its pid.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        else:
            # A dead leader may leave children behind (gunicorn workers): same group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        self._log.close()


@dataclass
class Stack:
    """The running pieces of one bench run. Use `Stack.up()` as a context manager."""

    workdir: Path
    redis_port: int
    database_url: str
    sim_port: int
    procs: dict[str, Proc] = field(default_factory=dict)
    prefix: str = "freshet:"
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    # URLs and settings --------------------------------------------------------------------
    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def sim_host(self) -> str:
        return f"127.0.0.1:{self.sim_port}"

    def settings_overrides(self) -> dict[str, Any]:
        """What the bench's API and workers run with: production defaults, pointed at this
        run's services, with the limits that would stop a load test turned off."""
        return dict(
            database_url=self.database_url,
            redis_url=self.redis_url,
            env="bench",
            allowed_private_hosts=(self.sim_host,),
            amazon_base_url=self.sim_url + "/amazon/{marketplace}",
            walmart_base_url=self.sim_url + "/walmart",
            simulator_url=self.sim_url,
            # One review page per job, so a review refresh is one upstream GET like the
            # raw task it is compared with.
            review_max_pages=1,
            # Politeness throttles one host on purpose (5/s); the bench measures cost, and
            # every target lives on the one simulator host.
            politeness_per_second=0.0,
            read_limit_per_minute=10_000_000,
        )

    def env(self, **extra: str) -> dict[str, str]:
        from freshet.settings import env_name

        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("FRESHET_")
            and k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "PORT")
        }
        for name, value in self.settings_overrides().items():
            env[env_name(name)] = ",".join(value) if isinstance(value, tuple) else str(value)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env.update(extra)
        return env

    def settings(self) -> Settings:
        from freshet.settings import load_settings

        return load_settings(environ={}, log_json=False, **self.settings_overrides())

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    # starting things ----------------------------------------------------------------------
    @classmethod
    @contextlib.contextmanager
    def up(cls, log: Callable[[str], None] = print) -> Iterator[Stack]:
        workdir = Path(tempfile.mkdtemp(prefix="freshet-bench-"))
        stack = cls(workdir=workdir, redis_port=free_port(), database_url="", sim_port=free_port())
        try:
            stack._start_redis()
            log(f"redis on {stack.redis_port}")
            stack.database_url = create_database("freshet_bench")
            stack._cleanups.append(lambda: drop_database(stack.database_url))
            from store.db import upgrade

            upgrade(stack.database_url)
            log(f"database {stack.database_url.rsplit('/', 1)[1]} migrated")
            stack._start_simulator()
            log(f"simulator on {stack.sim_port}")
            yield stack
        finally:
            stack.down()

    def spawn(self, name: str, argv: list[str], **env: str) -> Proc:
        if name in self.procs and self.procs[name].alive():
            raise BenchError(f"{name} is already running")
        proc = Proc(name, argv, self.env(**env), self.workdir)
        self.procs[name] = proc
        return proc

    def _start_redis(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        proc = self.spawn(
            "redis",
            [
                binary,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--loglevel",
                "warning",
            ],
        )
        client = redis.Redis(port=self.redis_port, socket_connect_timeout=0.2)
        wait_until(lambda: proc.alive_and(client.ping), 10, "redis")
        client.close()

    def _start_simulator(self) -> None:
        proc = self.spawn(
            "simulator",
            [sys.executable, "-m", "freshet.cli", "simulator", "--port", str(self.sim_port)],
        )
        wait_until(
            lambda: proc.alive_and(
                lambda: requests.get(self.sim_url + "/_sim/stats", timeout=1).ok
            ),
            30,
            "simulator",
        )

    def set_faults(self, **faults: Any) -> None:
        requests.put(self.sim_url + "/_sim/faults", json=faults, timeout=5).raise_for_status()

    def sim_total(self) -> int:
        return int(requests.get(self.sim_url + "/_sim/stats", timeout=5).json()["total"])

    def start_gunicorn(
        self, name: str, app: str, workers: int = 2, threads: int = 8, **env: str
    ) -> str:
        """gunicorn as the Procfile runs the API (gthread 2×8), minus the access log."""
        port = free_port()
        proc = self.spawn(
            name,
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--log-level",
                "warning",
                app,
            ],
            **env,
        )
        url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: proc.alive_and(lambda: requests.get(url + "/healthz", timeout=1).ok), 60, name
        )
        # Every worker process has imported the app once /healthz answers twice in a row
        # across a few connections; give the second worker its moment too.
        for _ in range(workers * 4):
            with contextlib.suppress(requests.RequestException):
                requests.get(url + "/healthz", timeout=2)
        return url

    def start_worker(
        self,
        name: str,
        concurrency: int,
        queues: tuple[str, ...] = WORKER_QUEUES,
        app: Any = None,
        env: dict[str, str] | None = None,
    ) -> Proc:
        """A Celery worker as the Procfile runs it (threads pool, events on)."""
        hostname = f"{name}-{uuid.uuid4().hex[:6]}@bench"
        proc = self.spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "bench.celery_app",
                "worker",
                "--loglevel",
                "INFO",
                "--queues",
                ",".join(queues),
                "--concurrency",
                str(concurrency),
                "--pool",
                "threads",
                "-E",
                "-n",
                hostname,
            ],
            **(env or {}),
        )
        proc.hostname = hostname  # type: ignore[attr-defined]
        if app is not None:

            def pinged() -> bool:
                proc.check_alive()
                return bool(app.control.ping(destination=[hostname], timeout=0.5))

            wait_until(pinged, 60, name, every=0.2)
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            proc.stop()

    def down(self) -> None:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # let cleanup finish
        try:
            order = [n for n in self.procs if n not in ("redis", "simulator")]
            order += [n for n in ("simulator", "redis") if n in self.procs]
            for name in order:
                try:
                    self.procs[name].stop()
                except Exception as exc:  # keep cleaning up the rest
                    print(f"bench: could not stop {name}: {exc}", file=sys.stderr)
            self.procs.clear()
            for fn in reversed(self._cleanups):
                try:
                    fn()
                except Exception as exc:
                    print(f"bench: cleanup failed: {exc}", file=sys.stderr)
            self._cleanups.clear()
            shutil.rmtree(self.workdir, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, old)
