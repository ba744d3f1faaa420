"""Running the simulator: a threaded, keep-alive werkzeug server, and a test helper that
serves it from a background thread on a free port."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.serving import make_server as _werkzeug_server

from simulator.app import create_app


class _Handler(WSGIRequestHandler):
    # HTTP/1.1 keeps connections alive, which a benchmark hammering the simulator needs.
    protocol_version = "HTTP/1.1"


class _QuietHandler(_Handler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def make_server(app: Flask, host: str, port: int, log_requests: bool = False) -> BaseWSGIServer:
    handler = _Handler if log_requests else _QuietHandler
    return _werkzeug_server(host, port, app, threaded=True, request_handler=handler)


class SimulatorHandle:
    """A simulator serving in a background thread: `.url`, `.app`, `.close()`."""

    def __init__(self, app: Flask, server: BaseWSGIServer):
        self.app = app
        self.server = server
        self.url = f"http://{server.host}:{server.server_port}"
        self.host = f"{server.host}:{server.server_port}"
        self._thread = threading.Thread(target=server.serve_forever, name="simulator", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self._thread.join(timeout=5)
        self.server.server_close()

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_in_thread(
    port: int = 0, host: str = "127.0.0.1", **create_app_kwargs: Any
) -> SimulatorHandle:
    """Start a simulator (create_app(**create_app_kwargs)) on host:port (0 = any free port)."""
    app = create_app(**create_app_kwargs)
    return SimulatorHandle(app, make_server(app, host, port))


def run(
    host: str = "127.0.0.1",
    port: int = 8900,
    *,
    seed: int = 0,
    drift_seconds: float = 3600.0,
    log_requests: bool = False,
) -> None:
    """Serve the simulator with a threaded server until interrupted (`freshet simulator`)."""
    server = make_server(
        create_app(seed=seed, drift_seconds=drift_seconds), host, port, log_requests
    )
    print(f"Freshet upstream simulator on http://{host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
