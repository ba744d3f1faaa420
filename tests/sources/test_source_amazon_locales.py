"""Amazon review pages of every marketplace: star texts, dates, countries and the
"Verified Purchase" badge in each language; filtered review lists."""

# Turkish words carry the dotless i (U+0131) on purpose; it is no look-alike here.
# ruff: noqa: RUF001

from __future__ import annotations

from collections.abc import Callable

import pytest

from sources.amazon_reviews import parse_page, parse_rating, parse_review_date

Page = Callable[[str], str]
Expected = tuple[float, str, str, bool, int]  # rating, date, country, verified, helpful

MARKETPLACES: dict[str, tuple[str, int, float, list[Expected]]] = {
    "fr": (
        "amazon.fr",
        311,
        4.1,
        [
            (4.0, "2024-03-01", "France", True, 12),
            (2.0, "2024-02-14", "Belgium", True, 1),
            (5.0, "2024-01-03", "France", False, 0),
        ],
    ),
    "it": (
        "amazon.it",
        1045,
        4.4,
        [(4.0, "2024-03-03", "Italy", True, 3), (1.0, "2024-02-28", "Italy", True, 0)],
    ),
    "es": (
        "amazon.es",
        402,
        4.2,
        [(4.0, "2024-03-03", "Spain", True, 7), (3.0, "2024-01-09", "Mexico", True, 1)],
    ),
    "nl": (
        "amazon.nl",
        198,
        4.3,
        [(4.0, "2024-03-03", "Netherlands", True, 2), (5.0, "2024-05-17", "Germany", True, 1)],
    ),
    "pl": (
        "amazon.pl",
        377,
        4.5,
        [(4.0, "2024-03-03", "Poland", True, 4), (5.0, "2023-10-21", "Poland", True, 0)],
    ),
    "tr": (
        "amazon.com.tr",
        233,
        4.2,
        [(4.0, "2024-03-03", "Turkey", True, 5), (2.0, "2023-08-12", "Turkey", True, 0)],
    ),
    "se": (
        "amazon.se",
        120,
        4.0,
        [(4.0, "2024-03-03", "Sweden", True, 3), (3.0, "2024-05-05", "Germany", True, 0)],
    ),
    "jp": (
        "amazon.co.jp",
        642,
        4.3,
        [(4.0, "2024-03-03", "Japan", True, 12), (1.0, "2023-12-24", "United States", True, 0)],
    ),
}


@pytest.mark.parametrize("key", sorted(MARKETPLACES))
def test_review_page_in_each_marketplace_language(page: Page, key: str) -> None:
    market, total, average, expected = MARKETPLACES[key]
    url = f"https://www.{market}/product-reviews/B0CFJ0RD17/?pageNumber=1"
    result = parse_page(page(f"amazon_{key}_reviews.html"), url=url)
    assert (result.asin, result.marketplace) == ("B0CFJ0RD17", market)
    assert (result.total_reviews, result.average_rating, result.star_filter) == (
        total,
        average,
        None,
    )
    got = [
        (r.rating, r.date, r.country, r.verified_purchase, r.helpful_votes) for r in result.reviews
    ]
    assert got == expected


def test_a_one_star_filtered_list_is_not_the_products_rating(page: Page) -> None:
    url = "https://www.amazon.com/product-reviews/B0CFJ0RD17/?filterByStar=one_star&pageNumber=1"
    result = parse_page(page("amazon_com_one_star_reviews.html"), url=url)
    assert result.star_filter == 1
    assert {r.rating for r in result.reviews} == {1.0}
    # "161 total ratings, 2 with reviews" counts the filter; the product's average stays.
    assert result.total_reviews is None
    assert result.average_rating == 4.4


def test_the_filter_is_read_from_the_dropdown_without_a_url(page: Page) -> None:
    assert parse_page(page("amazon_com_one_star_reviews.html")).star_filter == 1


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("4,0 von 5 Sternen", 4.0),
        ("4,0 sur 5 étoiles", 4.0),
        ("5つ星のうち4.0", 4.0),
        ("4,0 su 5 stelle", 4.0),
        ("4,0 de 5 estrellas", 4.0),
        ("3,0 van 5 sterren", 3.0),
        ("2,0 z 5 gwiazdek", 2.0),
        ("5 yıldız üzerinden 4,0", 4.0),
        ("4,0 av 5 stjärnor", 4.0),
        ("1.0 out of 5 stars", 1.0),
        ("12 out of 5", None),
    ],
)
def test_star_texts(text: str, rating: float | None) -> None:
    assert parse_rating(text) == rating


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Beoordeeld in Nederland op 3 maart 2024", ("2024-03-03", "Netherlands")),
        ("Zrecenzowano w Polsce dnia 21 października 2023", ("2023-10-21", "Poland")),
        ("Recenserad i Sverige den 5 maj 2024", ("2024-05-05", "Sweden")),
        ("Türkiye'de 12 Ağustos 2023 tarihinde değerlendirildi", ("2023-08-12", "Turkey")),
        ("2024年3月3日に日本でレビュー済み", ("2024-03-03", "Japan")),
        ("Avaliado no Brasil em 3 de março de 2024", ("2024-03-03", "Brazil")),
        ("Calificado en México el 9 de enero de 2024", ("2024-01-09", "Mexico")),
    ],
)
def test_more_localized_review_dates(line: str, expected: tuple[str, str]) -> None:
    assert parse_review_date(line) == expected
