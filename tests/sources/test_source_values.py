from __future__ import annotations

import pytest

from sources.record import ProductRecord
from sources.values import apply_codes, in_stock_from, parse_int, parse_price


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (19.99, 19.99),
        ("19.99", 19.99),
        ("1,299.00", 1299.0),
        ("1.299,00", 1299.0),
        ("19,99", 19.99),
        ("$1,299", 1299.0),
        ("1 299,00 €", 1299.0),
        ("EUR 49", 49.0),
        ("", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_price_reads_every_common_format(raw: object, expected: float | None) -> None:
    assert parse_price(raw) == expected


def test_parse_int_handles_locale_thousands() -> None:
    assert parse_int("1,234 global ratings") == 1234
    assert parse_int("1.234 globale Bewertungen") == 1234
    assert parse_int("38") == 38
    assert parse_int(None) is None


def test_availability_urls_and_bare_names_map_to_in_stock() -> None:
    assert in_stock_from("https://schema.org/InStock") is True
    assert in_stock_from("http://schema.org/OutOfStock") is False
    assert in_stock_from("InStock") is True
    assert in_stock_from("instock") is True
    # Orderable but not from stock: a monitor reports "back in stock" when it ships.
    assert in_stock_from("PreOrder") is False
    assert in_stock_from("Sideways") is None


def test_upc_gives_padded_gtin_and_no_ean() -> None:
    record = ProductRecord(source="t")
    apply_codes(record, ["086279195869"])
    assert (record.upc, record.ean, record.gtin) == ("086279195869", None, "00086279195869")


def test_ean13_gives_ean_and_gtin_and_isbn_when_bookland() -> None:
    record = ProductRecord(source="t")
    apply_codes(record, ["9780306406157"])
    assert record.ean == record.isbn == "9780306406157"
    assert record.gtin == "09780306406157"


def test_invalid_check_digit_is_ignored() -> None:
    record = ProductRecord(source="t")
    apply_codes(record, ["086279195860", "N/A", ""])
    assert record.gtin is None and record.upc is None
