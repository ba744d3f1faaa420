from __future__ import annotations

import pytest

from sources.urls import is_http_url, normalize_url, url_matches_domain


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://shop.example.com/products/x", "shop.example.com"),
        ("https://SHOP.Example.com/products/x", "shop.example.com"),
        ("https://www.shop.example.com/p", "shop.example.com"),
        ("https://shop.example.com/p", "www.shop.example.com"),
        ("https://a.shop.example.com/p", "shop.example.com"),
        ("http://127.0.0.1:8900/shops/demo/products/x", "127.0.0.1:8900/shops/demo"),
        ("http://127.0.0.1:8900/shops/demo", "127.0.0.1:8900/shops/demo/"),
        ("https://shop.example.com:443/x", "shop.example.com"),
    ],
)
def test_url_inside_catalog_domain_matches(url: str, domain: str) -> None:
    assert url_matches_domain(url, domain)


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://evilshop.example.com/p", "shop.example.com"),
        ("https://shop.example.com.evil.io/p", "shop.example.com"),
        ("http://127.0.0.1:8901/shops/demo/products/x", "127.0.0.1:8900/shops/demo"),
        ("http://127.0.0.1:8900/shops/demo2/products/x", "127.0.0.1:8900/shops/demo"),
        ("http://127.0.0.1:8900/shops/demo/../other/products/x", "127.0.0.1:8900/shops/demo"),
        ("http://127.0.0.1:8900/shops/demo/%2e%2e/other/x", "127.0.0.1:8900/shops/demo"),
        ("https://shop.example.com:8443/x", "shop.example.com"),
        ("ftp://shop.example.com/x", "shop.example.com"),
        ("https://shop.example.com@evil.io/x", "shop.example.com"),
        ("not a url", "shop.example.com"),
    ],
)
def test_url_outside_catalog_domain_does_not_match(url: str, domain: str) -> None:
    assert not url_matches_domain(url, domain)


def test_normalize_url_lowercases_drops_fragment_default_port_and_trailing_slash() -> None:
    assert normalize_url("HTTPS://Shop.Example.COM:443/Products/X/?variant=1#reviews") == (
        "https://shop.example.com/Products/X?variant=1"
    )
    assert normalize_url("http://shop.example.com") == "http://shop.example.com/"
    assert normalize_url("http://127.0.0.1:8900/shops/demo/") == "http://127.0.0.1:8900/shops/demo"


def test_is_http_url_accepts_only_absolute_http_urls() -> None:
    assert is_http_url("https://shop.example.com/x")
    assert not is_http_url("javascript:alert(1)")
    assert not is_http_url("/products/x")
    assert not is_http_url("file:///etc/passwd")


def test_catalog_domains_match_host_names_in_either_idna_form() -> None:
    # The client connects to the UTS-46 form; a domain written in Unicode must match it.
    assert url_matches_domain("https://xn--strae-oqa.example/p", "straße.example")
    assert url_matches_domain("https://straße.example/p", "xn--strae-oqa.example")
    assert not url_matches_domain("https://strasse.example/p", "straße.example")
