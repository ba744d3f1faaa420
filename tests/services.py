"""Throwaway services for one test run: a Redis server of its own and a database of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass

import psycopg
import redis

PG_ADMIN_URL = os.environ.get(
    "FRESHET_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen[bytes]
    workdir: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, port: int | None = None) -> RedisServer:
        port = port or free_port()
        workdir = tempfile.mkdtemp(prefix="freshet-redis-")
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = cls(port, proc, workdir)
        server.wait_ready()
        return server

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        while time.monotonic() < deadline:
            try:
                client.ping()
                client.close()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis on {self.port} did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def restart(self) -> None:
        """Stop and start again on the same port: everything in it is gone, as after a crash."""
        self.proc.kill()
        self.proc.wait(10)
        fresh = RedisServer.start(self.port)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.proc, self.workdir = fresh.proc, fresh.workdir

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def create_database(prefix: str = "freshet_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# RabbitMQ (issue #17): the machine's node, a vhost of our own per run, made and removed with
# rabbitmqctl (no management plugin here); CI runs as root, which rabbitmqctl needs.
RABBITMQ_URL = os.environ.get("FRESHET_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672")


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    out = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout, check=True
    )
    return out.stdout


@dataclass
class RabbitVhost:
    name: str

    @property
    def url(self) -> str:
        return f"{RABBITMQ_URL}/{self.name}"

    @classmethod
    def create(cls) -> RabbitVhost:
        name = f"freshet-test-{uuid.uuid4().hex[:10]}"
        rabbitmqctl("add_vhost", name)
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return cls(name)

    def queue_depths(self) -> dict[str, int]:
        """Ready + unacknowledged messages per queue of this vhost."""
        out = rabbitmqctl("list_queues", "-p", self.name, "name", "messages")
        depths = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                depths[parts[0]] = int(parts[1])
        return depths

    def restart_node(self) -> None:
        """Stop and start the RabbitMQ application (the node stays up): every connection is
        dropped; durable quorum queues and their confirmed messages must come back."""
        rabbitmqctl("stop_app")
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")

    def delete(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            rabbitmqctl("delete_vhost", self.name)
