"""What a product page says about itself outside its structured data: canonical URL,
`og:url`, the `<h1>`, Open Graph / product meta tags and stray microdata `itemprop`s."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

from lxml.html import HtmlElement

from sources.values import clean_text

# itemprops read when they stand outside any itemscope (extruct only sees scoped ones).
_LOOSE_PROPS = ("price", "lowPrice", "priceCurrency", "availability", "name", "sku", "gtin13")


@dataclass
class PageSignals:
    url: str | None = None
    canonical: str | None = None
    og_url: str | None = None
    h1: str | None = None
    meta: dict[str, str] = field(default_factory=dict)  # lower-cased property/name -> content
    itemprops: dict[str, str] = field(default_factory=dict)  # loose itemprop -> value

    def urls(self) -> set[str]:
        """The page's own addresses, normalized for comparison."""
        return {u for u in map(normalize_url, (self.canonical, self.og_url, self.url)) if u}


def normalize_url(url: str | None, base: str | None = None) -> str | None:
    """scheme-less, fragment-less, query-less, trailing-slash-less, host lower-cased."""
    if not url or not isinstance(url, str):
        return None
    try:
        parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
    except ValueError:
        return None
    if not parts.netloc:
        return None
    host = parts.netloc.lower().removeprefix("www.")
    return urlunsplit(("", host, parts.path.rstrip("/"), "", "")) or None


def _meta(tree: HtmlElement) -> dict[str, str]:
    tags: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or "").strip().lower()
        content = meta.get("content")
        if key and content is not None and len(tags) < 500:
            tags.setdefault(key, content.strip()[:2_000])
    return tags


def _loose_itemprops(tree: HtmlElement) -> dict[str, str]:
    found: dict[str, str] = {}
    for prop in _LOOSE_PROPS:
        elements = tree.xpath(f'//*[@itemprop="{prop}"][not(ancestor-or-self::*[@itemscope])]')
        for element in elements[:1]:
            value = (
                element.get("content")
                or element.get("href")
                or element.get("value")
                or element.text_content()
            )
            text = clean_text(value)
            if text:
                found[prop] = text
    return found


def page_signals(tree: HtmlElement, url: str | None) -> PageSignals:
    canonical = tree.xpath('//link[@rel="canonical"]/@href')
    meta = _meta(tree)
    h1 = tree.xpath("//h1")
    base = url or (canonical[0] if canonical else None)
    return PageSignals(
        url=url,
        canonical=urljoin(base, canonical[0].strip()) if canonical and base else None,
        og_url=meta.get("og:url"),
        h1=clean_text(re.sub(r"\s+", " ", h1[0].text_content())) if h1 else None,
        meta=meta,
        itemprops=_loose_itemprops(tree),
    )
