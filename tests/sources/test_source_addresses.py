"""SSRF checks of the HTTP client: the host checked is the host connected to (whatever its
encoding), a connection with no checked address is refused, every non-public range is
blocked, and each redirect hop is checked again."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from urllib.parse import quote

import idna
import pytest

import sources.addresses as addresses
from simulator.server import SimulatorHandle
from sources.http import HttpClient
from sources.record import BlockedAddressError
from tests.fault.hostile_shop import HostileShop

# What the resolver answers, per name as it reaches the DNS: Python's socket module encodes
# a Unicode name with its IDNA-2003 codec (straße -> strasse), requests with UTS-46
# (straße -> xn--strae-oqa). An attacker's zone can answer the two differently.
UNICODE_HOST = "straße.example"
IDNA2003 = "strasse.example"
UTS46 = "xn--strae-oqa.example"


def stub_resolver(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, Callable[[], str] | str]
) -> list[str]:
    """Patch socket.getaddrinfo to answer `answers` (per encoded name); returns the names
    looked up, in order. Names not in `answers` go to the real resolver."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host.encode("idna").decode()
        if name in answers:
            asked.append(name)
            answer = answers[name]
            ip = answer() if callable(answer) else answer
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def hits(sim: SimulatorHandle, path: str) -> int:
    return sim.app.extensions["simulator"].stats.snapshot()["paths"].get(path, 0)


def test_the_host_checked_is_encoded_the_way_requests_connects() -> None:
    assert idna.encode(UNICODE_HOST, uts46=True).decode() == UTS46
    assert UNICODE_HOST.encode("idna").decode() == IDNA2003  # what a naive lookup resolves
    assert addresses.target_of(f"https://{UNICODE_HOST}/p").host == UTS46
    assert addresses.target_of("http://Straße.Example.:81/").host == UTS46 + "."
    with pytest.raises(BlockedAddressError):  # urllib3 cannot encode it either
        addresses.target_of("http://\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25\uff0ecom/")


def test_an_encoding_split_cannot_reach_a_private_address(
    monkeypatch: pytest.MonkeyPatch, sim: SimulatorHandle
) -> None:
    asked = stub_resolver(monkeypatch, {IDNA2003: "93.184.216.34", UTS46: "127.0.0.1"})
    port = sim.url.rsplit(":", 1)[1]
    with pytest.raises(BlockedAddressError, match=r"127\.0\.0\.1"):
        HttpClient(timeout=2).get(f"http://{UNICODE_HOST}:{port}/walmart/ip/41")
    assert hits(sim, "/walmart/ip/41") == 0  # the connection never went to loopback
    assert asked == [UTS46]  # exactly one lookup, of the name the connection uses


def test_a_redirect_to_an_encoding_split_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # The hostile shop sends the Location as raw UTF-8, so the next hop sees a Unicode name.
    stub_resolver(monkeypatch, {IDNA2003: "93.184.216.34", UTS46: "10.0.0.5"})
    with HostileShop() as shop:
        target = quote(f"http://{UNICODE_HOST}/admin", safe="")
        client = HttpClient(allowed_private_hosts=[shop.host], timeout=2)
        with pytest.raises(BlockedAddressError, match=r"10\.0\.0\.5"):
            client.get(f"{shop.url}/redirect?to={target}")
        assert shop.hits["redirect"] == 1


def test_a_unicode_host_connects_to_the_address_its_check_approved(
    monkeypatch: pytest.MonkeyPatch, sim: SimulatorHandle
) -> None:
    # The check's lookup says loopback; any later lookup (or the IDNA-2003 name) says an
    # unroutable address, so only the pinned connection can succeed.
    answers: Iterator[str] = iter(["127.0.0.1"])
    stub_resolver(
        monkeypatch,
        {UTS46: lambda: next(answers, "10.255.255.1"), IDNA2003: "10.255.255.1"},
    )
    monkeypatch.setattr(addresses, "is_blocked", lambda ip: False)
    port = sim.url.rsplit(":", 1)[1]
    assert HttpClient(timeout=2).get(f"http://{UNICODE_HOST}:{port}/walmart/ip/42").status == 200


def test_the_allow_list_names_hosts_in_either_encoding(
    monkeypatch: pytest.MonkeyPatch, sim: SimulatorHandle
) -> None:
    stub_resolver(monkeypatch, {UTS46: "127.0.0.1", IDNA2003: "10.255.255.1"})
    port = sim.url.rsplit(":", 1)[1]
    for entry in (UNICODE_HOST, f"{UTS46}:{port}"):
        client = HttpClient(allowed_private_hosts=[entry], timeout=2)
        assert client.get(f"http://{UNICODE_HOST}:{port}/walmart/ip/43").status == 200
    with pytest.raises(BlockedAddressError):
        HttpClient(allowed_private_hosts=[IDNA2003], timeout=2).get(
            f"http://{UNICODE_HOST}:{port}/walmart/ip/43"
        )


def test_a_connection_without_a_checked_address_is_refused(sim: SimulatorHandle) -> None:
    # The client's own session, used around the checks (as a proxy or a stray caller
    # would): it must refuse, not resolve the name itself.
    client = HttpClient(allowed_private_hosts=[sim.host])
    with pytest.raises(BlockedAddressError, match="no checked address"):
        client.session.get(f"{sim.url}/walmart/ip/44", timeout=2)
    assert hits(sim, "/walmart/ip/44") == 0


def test_an_environment_proxy_does_not_bypass_the_checks(
    monkeypatch: pytest.MonkeyPatch, sim: SimulatorHandle
) -> None:
    monkeypatch.setenv("HTTP_PROXY", sim.url)  # the proxy would fetch anything for us
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(BlockedAddressError):
        HttpClient(timeout=2).get("http://169.254.169.254/latest/meta-data/")


BLOCKED = [
    # IPv4
    "0.0.0.0",  # noqa: S104 (an address to refuse, not one to bind)
    "0.1.2.3",
    "10.1.2.3",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.169.254",
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.8",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.1.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    # IPv6, and IPv4 embedded in IPv6
    "::",
    "::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:8.8.8.8",  # IPv4-mapped, even of a public address: no DNS name needs it
    "::7f00:1",  # IPv4-compatible
    "::a9fe:a9fe",
    "::ffff:0:a00:1",  # IPv4-translated (SIIT)
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
    "64:ff9b::a00:1",
    "64:ff9b::c0a8:101",
    "64:ff9b:1::a00:1",  # local-use NAT64
    "64:ff9b:1::808:808",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",
    "2002:c0a8:101::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "2001:db8::1",
    "3fff::1",
    "5f00::1",
    "100::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fec0::1",
    "ff02::1",
    "ff05::1:3",
]
PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "64:ff9b::808:808",  # NAT64 of a public address: how IPv6-only networks reach IPv4
    "2002:808:808::1",  # 6to4 of a public address
    "2606:4700:4700::1111",
    "2a00:1450:4001:82b::200e",
]


@pytest.mark.parametrize("ip", BLOCKED)
def test_a_name_resolving_into_a_non_public_range_is_refused(
    monkeypatch: pytest.MonkeyPatch, ip: str
) -> None:
    stub_resolver(monkeypatch, {"shop.test": ip})
    with pytest.raises(BlockedAddressError, match="non-public"):
        HttpClient().check_url("https://shop.test/p")
    assert addresses.is_blocked(ipaddress.ip_address(ip))


@pytest.mark.parametrize("ip", BLOCKED)
def test_an_address_literal_in_a_non_public_range_is_refused(ip: str) -> None:
    host = f"[{ip}]" if ":" in ip else ip
    with pytest.raises(BlockedAddressError):
        HttpClient().check_url(f"http://{host}:8080/")


@pytest.mark.parametrize("ip", PUBLIC)
def test_a_public_address_is_allowed_and_pinned(monkeypatch: pytest.MonkeyPatch, ip: str) -> None:
    stub_resolver(monkeypatch, {"shop.test": ip})
    assert HttpClient().check_url("https://shop.test/p") == {("shop.test", 443): ip}


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f.1", "127.1", "0177.0.0.1", "[::ffff:7f00:1]", "LOCALHOST"]
)
def test_unusual_spellings_of_loopback_are_refused(host: str) -> None:
    with pytest.raises(BlockedAddressError):
        HttpClient().check_url(f"http://{host}/")


def test_every_redirect_hop_is_checked_again(sim: SimulatorHandle) -> None:
    # Two hops inside the (allowed) simulator, then a NAT64 address of loopback: refused
    # at that hop, not only at the start.
    third = quote("http://[64:ff9b::7f00:1]/", safe="")
    second = quote(f"/redirect?to={third}", safe="")
    client = HttpClient(allowed_private_hosts=[sim.host], timeout=2)
    with pytest.raises(BlockedAddressError, match="64:ff9b::7f00:1"):
        client.get(f"{sim.url}/redirect?to={second}")
