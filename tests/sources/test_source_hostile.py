"""Every request to the hostile shop ends within the client's total deadline, with the
error class that decides retrying: transient (try later), permanent, or unparseable."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from sources import jsonld
from sources.http import HttpClient
from sources.record import (
    ParseError,
    PermanentSourceError,
    ProductRecord,
    TransientSourceError,
)
from tests.fault.hostile_shop import HostileShop

TIMEOUT = 2.0  # each connect and each read: longer than the drip interval
TOTAL = 3.0  # the whole request
SLACK = 1.0  # thread scheduling, and the shop's own pace


@pytest.fixture(scope="module")
def shop() -> Iterator[HostileShop]:
    with HostileShop() as s:
        yield s


@pytest.fixture
def client() -> Iterator[HttpClient]:
    c = HttpClient(timeout=TIMEOUT, total_timeout=TOTAL, allowed_private_hosts=["127.0.0.1"])
    yield c
    c.close()


def fetch(client: HttpClient, url: str) -> tuple[ProductRecord | Exception, float]:
    started = time.monotonic()
    try:
        outcome: ProductRecord | Exception = jsonld.fetch_product(client, url)
    except Exception as exc:
        outcome = exc
    return outcome, time.monotonic() - started


@pytest.mark.parametrize(
    ("path", "expected", "message", "at_least"),
    [
        ("slow-headers", TransientSourceError, "total deadline", TOTAL),
        ("slow-headers?every=0.2", TransientSourceError, "total deadline", TOTAL),
        ("drip-body", TransientSourceError, "total deadline", TOTAL),
        ("hang", TransientSourceError, "timeout", TIMEOUT),
        ("endless", PermanentSourceError, "cap", 0),
        ("big", PermanentSourceError, "cap", 0),
        ("big?chunked=1", PermanentSourceError, "cap", 0),
        ("gzip-bomb", PermanentSourceError, "cap", 0),
        ("loop", PermanentSourceError, "redirects", 0),
        ("garbage", PermanentSourceError, "did not answer in HTTP", 0),
    ],
    ids=lambda v: v if isinstance(v, str) and " " not in v else None,
)
def test_a_hostile_answer_ends_within_the_deadline_with_its_error_class(
    shop: HostileShop,
    client: HttpClient,
    path: str,
    expected: type[Exception],
    message: str,
    at_least: float,
) -> None:
    outcome, took = fetch(client, f"{shop.url}/{path}")
    print(f"\n/{path}: {type(outcome).__name__} after {took:.2f}s: {outcome}")
    assert isinstance(outcome, expected) and not isinstance(outcome, ParseError), outcome
    if expected is PermanentSourceError:
        assert not isinstance(outcome, TransientSourceError)
    assert message in str(outcome)
    assert at_least - 0.1 <= took <= TOTAL + SLACK, f"/{path} took {took:.2f}s"


def test_the_deadline_spans_every_redirect_hop(shop: HostileShop) -> None:
    # Each hop is quick, but the last one drips: the budget is the whole chain's.
    client = HttpClient(timeout=TIMEOUT, total_timeout=TOTAL, allowed_private_hosts=["127.0.0.1"])
    outcome, took = fetch(client, f"{shop.url}/redirect?to=/redirect%3Fto%3D/drip-body")
    print(f"\nredirect, redirect, drip: {type(outcome).__name__} after {took:.2f}s")
    assert isinstance(outcome, TransientSourceError) and "total deadline" in str(outcome)
    assert TOTAL - 0.1 <= took <= TOTAL + SLACK


def test_a_deadline_shorter_than_the_read_timeout_still_wins(shop: HostileShop) -> None:
    client = HttpClient(timeout=10, total_timeout=1.0, allowed_private_hosts=["127.0.0.1"])
    outcome, took = fetch(client, f"{shop.url}/hang")
    print(f"\n/hang with a 1 s deadline, 10 s reads: {took:.2f}s")
    assert isinstance(outcome, TransientSourceError) and took <= 1.0 + SLACK


def test_thousands_of_offers_parse_in_bounded_time(shop: HostileShop, client: HttpClient) -> None:
    outcome, took = fetch(client, f"{shop.url}/offers?n=5000")
    print(f"\n/offers (5000): {took:.2f}s")
    assert isinstance(outcome, ProductRecord), outcome
    # the record keeps a bounded number of offers (sources.offers caps them), still priced
    assert 0 < len(outcome.offers) <= 200 and outcome.current_price is not None
    assert took <= TOTAL + SLACK


def test_bottomless_json_ld_is_unparseable_not_a_crash(
    shop: HostileShop, client: HttpClient
) -> None:
    started = time.monotonic()
    try:
        jsonld.fetch_product(client, f"{shop.url}/nested?depth=100000")
    except ParseError:
        pass
    finally:
        print(f"\n/nested (100000 deep): {time.monotonic() - started:.2f}s")
    assert time.monotonic() - started <= TOTAL + SLACK


def test_an_honest_page_on_the_same_shop_is_fine(shop: HostileShop, client: HttpClient) -> None:
    outcome, _ = fetch(client, f"{shop.url}/ok")
    assert isinstance(outcome, ProductRecord) and outcome.title == "Hostile Widget"
