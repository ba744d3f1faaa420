"""A hostile shop on loopback: raw-socket HTTP that drips, never ends, loops, lies, hangs or
explodes, for showing that every upstream request ends within its deadline.

Paths (any prefix before them is ignored, so a catalog may put the shop under a path):
  /ok                     a small, honest schema.org product page
  /slow-headers           a status line, then header bytes one every `every` seconds (1)
  /endless                a chunked body that never ends, as fast as the socket takes it
  /drip-body              headers, then a body byte every 0.2 s, forever
  /loop                   302 to itself, forever
  /garbage                bytes that are not HTTP
  /hang                   accepts, reads the request, never answers
  /nested                 a product page whose JSON-LD nests `depth` (100000) levels deep
  /offers                 a product page with `n` (5000) offers
  /big                    a 10 MB page (Content-Length given; `chunked=1` leaves it out)
  /gzip-bomb              256 MB of zeros, gzip-compressed to ~250 KB
  /redirect?to=URL        302 to URL, sent as raw UTF-8 bytes (a Unicode host stays Unicode)
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from functools import cache
from urllib.parse import parse_qs, unquote, urlsplit

BIG = 10 * 1024 * 1024


def product_page(offers: int = 1, jsonld: str | None = None) -> bytes:
    data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": "Hostile Widget",
        "sku": "HW-1",
        "offers": [
            {"@type": "Offer", "price": f"{10 + i % 90}.99", "priceCurrency": "EUR"}
            for i in range(offers)
        ],
    }
    block = jsonld if jsonld is not None else json.dumps(data)
    return (
        "<!doctype html><html><head><title>Hostile Widget</title>"
        f'<script type="application/ld+json">{block}</script></head>'
        "<body><h1>Hostile Widget</h1></body></html>"
    ).encode()


def nested_jsonld(depth: int) -> str:
    # Bottomless: each level a Product whose mainEntity is the next, and an array tower.
    head = '{"@type":"Product","name":"deep","mainEntity":' * depth
    return head + "[" * depth + "]" * depth + "}" * depth


@cache
def gzip_bomb() -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: with a gzip wrapper
    zeros = bytes(1 << 20)
    return b"".join(comp.compress(zeros) for _ in range(256)) + comp.flush()


class _Handler(socketserver.BaseRequestHandler):
    server: HostileShop._Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        try:
            head = self._read_head(sock)
            if head is None:
                return
            target = head.split(b" ", 2)[1].decode("latin-1") if b" " in head else "/"
            parts = urlsplit(target)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            name = parts.path.rstrip("/").rsplit("/", 1)[-1] or "ok"
            self.server.shop.hits[name] += 1
            route = ROUTES.get(name, _not_found)
            route(self, sock, query)
        except OSError:
            pass  # the client gave up (the point of most of these paths)

    def _read_head(self, sock: socket.socket) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = sock.recv(4096)
            if not piece:
                return None
            data += piece
            if len(data) > 65536:
                return None
        return data

    # helpers for the routes
    @property
    def stopping(self) -> threading.Event:
        return self.server.shop.stopping

    def send(self, sock: socket.socket, status: str, headers: dict[str, str], body: bytes) -> None:
        lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


Route = Callable[[_Handler, socket.socket, dict[str, str]], None]


def _html(h: _Handler, sock: socket.socket, body: bytes) -> None:
    h.send(
        sock,
        "200 OK",
        {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Length": str(len(body)),
            "Connection": "close",
        },
        body,
    )


def _ok(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    _html(h, sock, product_page())


def _price(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    # A name with a NUL character, which no Postgres text or jsonb value can hold, and the
    # price ?price= says (sources refuse one past Numeric(14, 2) as unparseable).
    data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": q.get("name", "Priceless\u0000Widget"),
        "offers": {
            "@type": "Offer",
            "price": q.get("price", "19.99"),
            "priceCurrency": "EUR",
        },
    }
    _html(h, sock, product_page(jsonld=json.dumps(data)))


def _slow_headers(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    every = float(q.get("every", "1"))
    sock.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
    while not h.stopping.wait(every):
        sock.sendall(b"a")


def _endless(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    sock.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"<p>" + b"x" * 65530 + b"</p>"
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    while not h.stopping.is_set():
        sock.sendall(frame)


def _drip_body(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<html>")
    while not h.stopping.wait(0.2):
        sock.sendall(b"x")


def _loop(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    h.send(
        sock, "302 Found", {"Location": "loop", "Content-Length": "0", "Connection": "close"}, b""
    )


def _garbage(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    sock.sendall(b"\x16\x03\x01\x02\x00SSH-2.0-OpenSSH_9.6\r\n" + os.urandom(4096))


def _hang(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    sock.settimeout(0.5)
    while not h.stopping.is_set():
        try:
            if sock.recv(1) == b"":
                return  # the client hung up
        except TimeoutError:
            continue


def _nested(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    _html(h, sock, product_page(jsonld=nested_jsonld(int(q.get("depth", "100000")))))


def _offers(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    _html(h, sock, product_page(offers=int(q.get("n", "5000"))))


def _big(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    body = b"<html><body>" + b"x" * (BIG - 26) + b"</body></html>"
    headers = {"Content-Type": "text/html", "Connection": "close"}
    if q.get("chunked") != "1":
        headers["Content-Length"] = str(len(body))
    h.send(sock, "200 OK", headers, body)


def _gzip_bomb(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    body = gzip_bomb()
    h.send(
        sock,
        "200 OK",
        {
            "Content-Type": "text/html",
            "Content-Encoding": "gzip",
            "Content-Length": str(len(body)),
            "Connection": "close",
        },
        body,
    )


def _redirect(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    location = unquote(q.get("to", "/ok")).encode("utf-8")
    sock.sendall(
        b"HTTP/1.1 302 Found\r\nLocation: "
        + location
        + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )


def _not_found(h: _Handler, sock: socket.socket, q: dict[str, str]) -> None:
    h.send(sock, "404 Not Found", {"Content-Length": "0", "Connection": "close"}, b"")


ROUTES: dict[str, Route] = {
    "ok": _ok,
    "slow-headers": _slow_headers,
    "endless": _endless,
    "drip-body": _drip_body,
    "loop": _loop,
    "garbage": _garbage,
    "hang": _hang,
    "nested": _nested,
    "offers": _offers,
    "big": _big,
    "gzip-bomb": _gzip_bomb,
    "redirect": _redirect,
    "price": _price,
}


class HostileShop:
    """`with HostileShop() as shop:` serves on 127.0.0.1:`shop.port` in threads."""

    class _Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        shop: HostileShop

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.stopping = threading.Event()
        self.hits: Counter[str] = Counter()
        self._server = self._Server((host, port), _Handler)
        self._server.shop = self
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> HostileShop:
        gzip_bomb()  # built before any client waits on it
        self._thread.start()
        return self

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> HostileShop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":  # python -m tests.fault.hostile_shop: poke at it with curl
    with HostileShop(port=int(os.environ.get("PORT", "8901"))) as shop:
        print(f"hostile shop on {shop.url}")
        while True:
            time.sleep(3600)
