"""Value helpers every source shares: HTML parsing, text, prices, numbers, units, stock,
barcodes, names and images as shops write them."""

from __future__ import annotations

import functools
import html as html_lib
import math
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin

import lxml.html
from lxml import etree
from lxml.etree import ParserError
from lxml.html import HtmlElement

from sources.availability import availability_from, in_stock_of
from sources.prices import parse_number, parse_price
from sources.record import ParseError, ProductRecord

__all__ = [
    "DESCRIPTION_LIMIT",
    "SCHEMA_PREFIX",
    "apply_codes",
    "clean_text",
    "image_of",
    "in_stock_from",
    "name_of",
    "parse_html",
    "parse_html_plain",
    "parse_int",
    "parse_number",
    "parse_price",
    "parse_weight",
    "to_inches",
    "to_lbs",
]

SCHEMA_PREFIX = re.compile(r"^(?:(?:https?:)?//(?:www\.)?schema\.org/|schema:)", re.I)
_NUMBER = re.compile(r"(?:\d{1,3}(?:[,.'\u00a0\u202f\u2009 ]\d{3})+(?!\d)|\d+)(?:[.,]\d+)?")
TEXT_LIMIT = 1_000  # names, brands, sellers: a hostile page cannot make giant values
DESCRIPTION_LIMIT = 10_000
_TAG = re.compile(r"<[^>]+>")
_BLOCK_TAG = re.compile(r"</?(?:p|br|li|ul|ol|div|h[1-6]|tr|td|th|table|section)\b[^>]*>", re.I)
_WEIGHT_UNITS = {
    "lb": 1.0,
    "lbs": 1.0,
    "pound": 1.0,
    "pounds": 1.0,
    "lbr": 1.0,
    "oz": 1 / 16,
    "ounce": 1 / 16,
    "ounces": 1 / 16,
    "onz": 1 / 16,
    "kg": 2.20462,
    "kgm": 2.20462,
    "kilogram": 2.20462,
    "kilograms": 2.20462,
    "g": 1 / 453.592,
    "grm": 1 / 453.592,
    "gram": 1 / 453.592,
    "grams": 1 / 453.592,
}
_LENGTH_UNITS = {
    "in": 1.0,
    "inch": 1.0,
    "inches": 1.0,
    "inh": 1.0,
    '"': 1.0,
    "cm": 1 / 2.54,
    "cmt": 1 / 2.54,
    "mm": 1 / 25.4,
    "mmt": 1 / 25.4,
    "m": 39.3701,
    "mtr": 39.3701,
    "ft": 12.0,
    "fot": 12.0,
    "feet": 12.0,
}


# ---- value helpers shared by the product sources -------------------------------------


def parse_html(text: str) -> HtmlElement:
    """An lxml tree of a page; ParseError for an empty or unparseable document."""
    root: HtmlElement = _parse(text, None)
    return root


def parse_html_plain(text: str) -> etree._Element:
    """`parse_html`'s tree, the same root, of plain lxml elements: no `HtmlElement`
    methods (`text_content()` is the XPath `string()`), and none of lxml.html's class
    lookup, a Python call for every element a query hands back."""
    root: etree._Element = _parse(text, _plain_parser())
    return root


@functools.cache
def _plain_parser() -> etree.HTMLParser:
    # lxml.html's own parser, less its element classes (it shares one across threads too)
    # and its table of ids, which only XPath's id() reads: a tenth of the parse.
    return etree.HTMLParser(collect_ids=False)


def _parse(text: str, parser: etree.HTMLParser | None) -> Any:
    if not text or not text.strip():
        raise ParseError("empty page")
    data: str | bytes = text.encode("utf-8") if text.lstrip().startswith("<?xml") else text
    try:
        return lxml.html.fromstring(data, parser=parser)
    except (ParserError, ValueError) as exc:
        raise ParseError(f"not an HTML page: {exc}") from exc


def clean_text(value: Any, limit: int = TEXT_LIMIT) -> str | None:
    """Unescape HTML entities, drop tags, collapse whitespace, cut at `limit` characters
    (on a word boundary when one is near); None for empty."""
    if value is None or isinstance(value, dict | list):
        return None
    # Markup and entities shrink in cleaning; beyond this much raw text nothing survives.
    text = html_lib.unescape(str(value)[: limit * 8 + 1_000])
    text = html_lib.unescape(_TAG.sub("", _BLOCK_TAG.sub(" ", text)))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        cut = text[: limit - 1]
        space = cut.rfind(" ")
        text = (cut[:space] if space > limit * 0.8 else cut).rstrip() + "\u2026"
    return text or None


def parse_int(value: Any) -> int | None:
    """A count from a number or a string such as "1,234 ratings" or "1.234 Bewertungen"."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if math.isfinite(value) else None
    text = str(value)[:200]
    if re.fullmatch(r"\s*\d+\.\d{1,2}\s*", text):
        return int(float(text))
    match = _NUMBER.search(text)
    return int(re.sub(r"\D", "", match.group(0))) if match else None


def to_lbs(amount: Any, unit: str | None) -> float | None:
    value = parse_number(amount)
    factor = _WEIGHT_UNITS.get((unit or "lb").strip().lower().rstrip("."))
    return round(value * factor, 3) if value is not None and factor else None


def to_inches(amount: Any, unit: str | None) -> float | None:
    value = parse_number(amount)
    factor = _LENGTH_UNITS.get((unit or "in").strip().lower().rstrip("."))
    return round(value * factor, 2) if value is not None and factor else None


def parse_weight(text: str | None) -> float | None:
    """Pounds from "14.2 lb", "2,5 kg", "12 oz"."""
    match = re.search(r"(\d[\d.,]*)\s*([A-Za-z]+)", text or "")
    return to_lbs(match.group(1), match.group(2)) if match else None


def in_stock_from(value: Any) -> bool | None:
    """schema.org / OG availability ("https://schema.org/InStock", "instock") as a bool."""
    return in_stock_of(availability_from(value))


def gtin_valid(code: str) -> bool:
    """The GS1 check digit of an 8, 12, 13 or 14 digit code is right."""
    digits = [int(c) for c in code]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits[:-1])))
    return (10 - total % 10) % 10 == digits[-1]


def apply_codes(record: ProductRecord, codes: Iterable[Any]) -> None:
    """Fill upc / ean / isbn / gtin (GTIN-14, zero padded) from barcodes, keeping any set."""
    for raw in codes:
        code = re.sub(r"[\s-]", "", str(raw or ""))
        if not code.isdigit() or len(code) not in (8, 12, 13, 14) or not gtin_valid(code):
            continue
        record.gtin = record.gtin or code.zfill(14)
        if len(code) == 13:
            record.ean = record.ean or code
        ean_form = code[-13:] if len(code) >= 13 else ""
        if ean_form.startswith(("978", "979")):
            record.isbn = record.isbn or ean_form
        if len(code) == 12 or (len(code) > 12 and code.zfill(14).startswith("00")):
            record.upc = record.upc or code[-12:]


def name_of(value: Any) -> str | None:
    """A name from a string, {"name": ...} object, or the first of a list."""
    if isinstance(value, list):
        return next((n for n in map(name_of, value) if n), None)
    if isinstance(value, dict):
        return clean_text(value.get("name"))
    return clean_text(value)


def image_of(value: Any, base: str | None) -> str | None:
    if isinstance(value, list):
        return next((i for i in (image_of(x, base) for x in value) if i), None)
    if isinstance(value, dict):
        return image_of(value.get("url") or value.get("contentUrl"), base)
    if isinstance(value, str) and value.strip() and len(value) <= 4_096:
        url = html_lib.unescape(value.strip())
        return urljoin(base, url) if base else ("https:" + url if url.startswith("//") else url)
    return None
