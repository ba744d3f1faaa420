"""Prices as shops write them: "2.029,00", "40,99", "1 299,00 €" with no-break spaces,
"₺1.299", "$1,299", numbers; and the currency a symbol or code in the text gives away.
A price that is negative, not finite or too large to store is no price at all."""

from __future__ import annotations

import math
import re
from typing import Any, Final

# Numeric(14, 2) holds less than 10**12; anything at or above it is a broken page.
MAX_PRICE: Final = 1e12
_GROUP = "[,.'\u2019\u00a0\u202f\u2009 ]"
_NUMBER = re.compile(
    rf"(?P<sign>[-\u2212]\s?)?(?:\d{{1,3}}(?:{_GROUP}\d{{3}})+(?!\d)|\d+)(?:[.,]\d+)?"
)
_EXPONENT = re.compile(r"\s*[-+]?\d+(?:\.\d+)?[eE][-+]?\d+\s*")
_SPACES = re.compile("['\u2019\u00a0\u202f\u2009 ]")
# Currencies whose minor unit has three digits: "1.299" there is one and a bit.
_THREE_DECIMALS: Final = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
_SYMBOLS: Final = (
    ("US$", "USD"),
    ("C$", "CAD"),
    ("CA$", "CAD"),
    ("A$", "AUD"),
    ("AU$", "AUD"),
    ("NZ$", "NZD"),
    ("R$", "BRL"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("₺", "TRY"),
    ("₹", "INR"),
    ("¥", "JPY"),
    ("₩", "KRW"),
    ("₽", "RUB"),
    ("₴", "UAH"),
    ("zł", "PLN"),
    ("Kč", "CZK"),
    ("$", "USD"),
)
_WORDS: Final = {"TL": "TRY", "Ft": "HUF", "lei": "RON", "Fr.": "CHF", "CHF": "CHF"}
_CODES: Final = frozenset(
    [
        "AED",
        "AUD",
        "BGN",
        "BHD",
        "BRL",
        "CAD",
        "CHF",
        "CNY",
        "CZK",
        "DKK",
        "EUR",
        "GBP",
        "HKD",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "ISK",
        "JOD",
        "JPY",
        "KRW",
        "KWD",
        "MXN",
        "MYR",
        "NOK",
        "NZD",
        "OMR",
        "PHP",
        "PLN",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "SAR",
        "SEK",
        "SGD",
        "THB",
        "TND",
        "TRY",
        "TWD",
        "UAH",
        "USD",
        "ZAR",
    ]
)
_CODE = re.compile(r"(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])")
_WORD = re.compile(r"(?<![A-Za-z])(TL|Ft|lei|Fr\.|CHF)(?![A-Za-z])")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _decimal_text(digits: str, currency: str | None, lone_group_is_thousands: bool) -> str:
    """Digits with their separators as Python reads them ("1.299,00" -> "1299.00")."""
    s = _SPACES.sub("", digits)
    if "," in s and "." in s:
        decimal = "," if s.rfind(",") > s.rfind(".") else "."
        return s.replace("." if decimal == "," else ",", "").replace(",", ".")
    for sep in (",", "."):
        if sep not in s:
            continue
        head, _, tail = s.rpartition(sep)
        if s.count(sep) > 1:
            return s.replace(sep, "")
        three_digit_group = len(tail) == 3 and head.lstrip("0") != ""
        # "1,299" has always meant thousands; "1.299" does when the caller says so.
        grouping = sep == "," or lone_group_is_thousands
        if three_digit_group and grouping and currency not in _THREE_DECIMALS:
            return s.replace(sep, "")
        return s.replace(",", ".")
    return s


def parse_number(value: Any) -> float | None:
    """A finite decimal from a number or a string ("4,5", "1.234,5"); a lone dot is decimal."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _finite(float(value))
    if isinstance(value, dict):
        return parse_number(value.get("value", value.get("amount")))
    match = _NUMBER.search(str(value)[:200])
    if not match:
        return None
    number = _decimal_text(match.group(0).lstrip("-\u2212 "), None, False)
    try:
        parsed = float(number)
    except ValueError:
        return None
    return _finite(-parsed if match.group("sign") else parsed)


def parse_price(value: Any, currency: str | None = None) -> float | None:
    """A price from a number, a string in any common locale, or {"price"|"amount"|"value"}.

    A single "." or "," before exactly three digits groups thousands ("₺1.299" is 1299),
    except in currencies with three-digit minor units. None for anything that is not a
    finite amount in [0, 10**12).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dict):
        inner = value.get("price", value.get("amount", value.get("value")))
        return None if isinstance(inner, dict) else parse_price(inner, currency)
    if isinstance(value, int | float):
        amount = _finite(float(value))
    else:
        text = str(value)[:200]
        if _EXPONENT.fullmatch(text):  # "1e12": a number, not "1" followed by junk
            return parse_price(float(text), currency)
        match = _NUMBER.search(text)
        if not match or match.group("sign"):
            return None
        currency = currency or currency_from(text)
        try:
            amount = _finite(float(_decimal_text(match.group(0), currency, True)))
        except ValueError:
            return None
    if amount is None or amount < 0 or amount >= MAX_PRICE:
        return None
    return amount


def currency_from(text: Any) -> str | None:
    """The ISO code an amount's text names: "EUR 49", "49 €", "₺1.299", "1.299 TL"."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = text[:200]
    code = _CODE.search(text)
    if code and code.group(1) in _CODES:
        return code.group(1)
    for symbol, iso in _SYMBOLS:
        if symbol in text:
            return iso
    word = _WORD.search(text)
    return _WORDS[word.group(1)] if word else None


def currency_code(value: Any) -> str | None:
    """A `priceCurrency` as an ISO code: "eur" -> "EUR", "€" -> "EUR", junk -> None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if re.fullmatch(r"[A-Za-z]{3}", text):
        return text.upper()
    return currency_from(text)
