from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import quote

import pytest

import sources.addresses as addresses
from simulator.server import SimulatorHandle
from sources.http import HttpClient, HttpStatusError, parse_retry_after
from sources.record import BlockedAddressError, PermanentSourceError, TransientSourceError


def _fake_resolver(table: dict[str, list[str]]):
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host in table:
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (ip, port),
                )
                for ip in table[host]
            ]
        return real(host, port, *args, **kwargs)

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
    ],
)
def test_non_public_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(BlockedAddressError):
        HttpClient().check_url(url)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "http:///nohost"]
)
def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(BlockedAddressError):
        HttpClient().check_url(url)


def test_a_name_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        socket, "getaddrinfo", _fake_resolver({"mixed.test": ["93.184.216.34", "10.0.0.7"]})
    )
    with pytest.raises(BlockedAddressError, match=r"10\.0\.0\.7"):
        HttpClient().check_url("https://mixed.test/")


def test_a_public_name_is_allowed_and_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _fake_resolver({"shop.test": ["93.184.216.34"]}))
    assert HttpClient().check_url("https://shop.test/p") == {("shop.test", 443): "93.184.216.34"}


def test_loopback_simulator_is_refused_unless_listed(sim: SimulatorHandle) -> None:
    port = sim.url.rsplit(":", 1)[1]
    with pytest.raises(BlockedAddressError):
        HttpClient().get(f"{sim.url}/walmart/ip/1")
    with pytest.raises(BlockedAddressError):
        HttpClient().get(f"http://localhost:{port}/walmart/ip/1")
    with pytest.raises(BlockedAddressError):
        HttpClient(allowed_private_hosts=["127.0.0.1:1"]).get(f"{sim.url}/walmart/ip/1")
    for allowed in ([f"127.0.0.1:{port}"], ["127.0.0.1"]):
        assert (
            HttpClient(allowed_private_hosts=allowed).get(f"{sim.url}/walmart/ip/1").status == 200
        )
    assert (
        HttpClient(allowed_private_hosts=[f"localhost:{port}"])
        .get(f"http://localhost:{port}/walmart/ip/1")
        .status
        == 200
    )
    assert HttpClient(allow_private=True).get(f"{sim.url}/walmart/ip/1").status == 200


def test_redirect_to_metadata_address_is_refused(sim: SimulatorHandle) -> None:
    client = HttpClient(allowed_private_hosts=[sim.host])
    target = quote("http://169.254.169.254/latest/meta-data/iam/", safe="")
    with pytest.raises(BlockedAddressError):
        client.get(f"{sim.url}/redirect?to={target}")


def test_redirect_to_an_unlisted_local_port_is_refused(sim: SimulatorHandle) -> None:
    client = HttpClient(allowed_private_hosts=[sim.host])
    with pytest.raises(BlockedAddressError):
        client.get(f"{sim.url}/redirect?to={quote('http://127.0.0.1:1/', safe='')}&status=307")


def test_redirect_leaving_the_catalog_domains_is_refused(sim: SimulatorHandle) -> None:
    client = HttpClient(allowed_private_hosts=[sim.host])
    domain = f"{sim.host}/redirect"
    with pytest.raises(PermanentSourceError, match="outside the catalog"):
        client.get(
            f"{sim.url}/redirect?to={quote('https://other.example/x', safe='')}",
            allowed_domains=[domain],
        )
    with pytest.raises(PermanentSourceError, match="outside the catalog"):
        client.get(f"{sim.url}/redirect?to=/walmart/ip/5", allowed_domains=[domain])


def test_a_url_outside_the_catalog_is_refused_before_any_request(sim: SimulatorHandle) -> None:
    client = HttpClient(allowed_private_hosts=[sim.host])
    with pytest.raises(PermanentSourceError, match="outside the catalog"):
        client.get(f"{sim.url}/walmart/ip/5", allowed_domains=[f"{sim.host}/shops/demo"])
    assert sim.app.extensions["simulator"].stats.snapshot()["paths"].get("/walmart/ip/5") is None


def test_redirects_inside_the_rules_are_followed(sim: SimulatorHandle) -> None:
    client = HttpClient(allowed_private_hosts=[sim.host])
    response = client.get(
        f"{sim.url}/redirect?to=/walmart/ip/77&status=301", allowed_domains=[sim.host]
    )
    assert response.status == 200 and response.url == f"{sim.url}/walmart/ip/77"
    assert "__NEXT_DATA__" in response.text and response.headers["content-type"].startswith(
        "text/html"
    )


def test_too_many_redirects_is_permanent(sim: SimulatorHandle) -> None:
    url = "/walmart/ip/1"
    for _ in range(4):
        url = "/redirect?to=" + quote(url, safe="")
    with pytest.raises(PermanentSourceError, match="redirects"):
        HttpClient(allowed_private_hosts=[sim.host], max_redirects=2).get(sim.url + url)


def test_oversize_bodies_are_refused_declared_or_streamed(sim: SimulatorHandle) -> None:
    client = HttpClient(allowed_private_hosts=[sim.host], max_bytes=2000)
    with pytest.raises(PermanentSourceError, match="cap"):
        client.get(f"{sim.url}/walmart/ip/1")  # Content-Length says too much
    with pytest.raises(PermanentSourceError, match="cap"):
        client.get(f"{sim.url}/blob?bytes=200000")  # chunked: counted while streaming
    assert len(client.get(f"{sim.url}/blob?bytes=1500").content) == 1500


def test_status_codes_map_to_transient_and_permanent_errors(sim: SimulatorHandle) -> None:
    client = HttpClient(allowed_private_hosts=[sim.host])
    with pytest.raises(HttpStatusError) as not_found:
        client.get(f"{sim.url}/walmart/ip/not-digits")
    assert not_found.value.status == 404 and "404" in str(not_found.value)
    assert not isinstance(not_found.value, TransientSourceError)


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientSourceError):
        HttpClient(allowed_private_hosts=["127.0.0.1"], timeout=2).get(f"http://127.0.0.1:{port}/")


def test_connection_goes_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, sim: SimulatorHandle
) -> None:
    # The first lookup (the SSRF check) says loopback; any later lookup would say an
    # unroutable address. Only connecting to the checked address can succeed.
    answers = iter(["127.0.0.1"])
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.test":
            ip = next(answers, "10.255.255.1")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(addresses, "is_blocked", lambda ip: False)
    port = sim.url.rsplit(":", 1)[1]
    response = HttpClient(timeout=2).get(f"http://rebind.test:{port}/walmart/ip/3")
    assert response.status == 200


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < parse_retry_after(later) <= 120
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
