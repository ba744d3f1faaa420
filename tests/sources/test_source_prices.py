"""Locale price formats, from fixtures and as properties of the price normalizer."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.jsonld import parse_page
from sources.prices import MAX_PRICE, currency_from, parse_price

# No example database left on disk; no deadline (a loaded machine is not a failure).
_EXAMPLES = settings(database=None, deadline=None)

Page = Callable[[str], str]
NBSP, NNBSP = "\u00a0", "\u202f"


def test_german_thousands_dot_and_decimal_comma(page: Page) -> None:
    record = parse_page(page("jsonld_locale_de.html"))
    assert (record.current_price, record.currency) == (2029.0, "EUR")
    assert record.offers[0].shipping_price == 40.99


def test_french_no_break_spaces_and_currency_only_as_a_symbol(page: Page) -> None:
    record = parse_page(page("jsonld_locale_fr.html"))
    assert (record.current_price, record.currency) == (1299.0, "EUR")
    assert (record.in_stock, record.availability) == (True, "in_store_only")


def test_turkish_lira_symbol_and_dot_thousands(page: Page) -> None:
    record = parse_page(page("jsonld_locale_tr.html"))
    assert (record.current_price, record.currency) == (1299.0, "TRY")
    assert record.availability == "online_only"


def test_ratings_on_other_scales_are_brought_to_five(page: Page) -> None:
    ten = parse_page(page("jsonld_locale_de.html"))
    assert (ten.average_rating, ten.rating_scale, ten.review_count) == (4.3, 10.0, 57)
    hundred = parse_page(page("jsonld_locale_tr.html"))
    assert (hundred.average_rating, hundred.rating_scale) == (4.6, 100.0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2.029,00", 2029.0),
        ("40,99", 40.99),
        (f"1{NBSP}299,00", 1299.0),
        (f"1{NNBSP}299,00{NBSP}€", 1299.0),
        ("₺1.299", 1299.0),
        ("1.299 TL", 1299.0),
        ("CHF 1'299.50", 1299.5),
        ("12.5000", 12.5),
        ("0.299", 0.299),
        ("12.500 KWD", 12.5),
        ("1e3", 1000.0),
        (float("nan"), None),
        (float("inf"), None),
        (-5, None),
        ("-5,00 €", None),
        (1e12, None),
        ("1e15", None),
        (999_999_999_999.99, 999_999_999_999.99),
        ({}, None),
        ({"amount": "19.99"}, 19.99),
    ],
)
def test_price_formats(raw: object, expected: float | None) -> None:
    assert parse_price(raw) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [("49 €", "EUR"), ("₺1.299", "TRY"), ("£5", "GBP"), ("1.299 TL", "TRY"), ("EUR 9", "EUR")],
)
def test_currency_from_symbols_and_codes(text: str, code: str) -> None:
    assert currency_from(text) == code


_AMOUNTS = st.decimals(min_value=0, max_value=Decimal("999999999.99"), places=2)
_STYLES = {
    "en": (",", "."),
    "de": (".", ","),
    "fr-nbsp": (NBSP, ","),
    "fr-nnbsp": (NNBSP, ","),
    "ch": ("'", "."),
    "plain": ("", "."),
}


def _format(amount: Decimal, thousands: str, decimal: str) -> str:
    whole, cents = f"{amount:.2f}".split(".")
    groups = f"{int(whole):,}".replace(",", thousands)
    return f"{groups}{decimal}{cents}"


@_EXAMPLES
@given(
    amount=_AMOUNTS,
    style=st.sampled_from(sorted(_STYLES)),
    wrap=st.sampled_from(["{}", "€{}", "{} €", "₺{}", "{} TL", "$ {}", "EUR {}", "{}\u00a0kr"]),
)
def test_formatted_amounts_read_back_in_every_locale(
    amount: Decimal, style: str, wrap: str
) -> None:
    text = wrap.format(_format(amount, *_STYLES[style]))
    assert parse_price(text) == pytest.approx(float(amount), abs=0.001)


@_EXAMPLES
@given(amount=st.integers(min_value=1_000, max_value=999_999_999), sep=st.sampled_from(".,"))
def test_whole_amounts_with_grouping_read_back(amount: int, sep: str) -> None:
    assert parse_price(f"{amount:,}".replace(",", sep)) == amount


@_EXAMPLES
@given(
    st.one_of(
        st.text(max_size=60),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(),
        st.dictionaries(st.sampled_from(["price", "amount", "value"]), st.text(max_size=20)),
    )
)
def test_a_price_is_always_finite_non_negative_and_storable(value: object) -> None:
    price = parse_price(value)
    assert price is None or (math.isfinite(price) and 0 <= price < MAX_PRICE)
    assert price is None or round(price, 2) < 10**12  # fits Numeric(14, 2)


@_EXAMPLES
@given(st.floats(min_value=0, max_value=MAX_PRICE, exclude_max=True))
def test_finite_numbers_in_range_are_kept_as_they_are(value: float) -> None:
    assert parse_price(value) == value
