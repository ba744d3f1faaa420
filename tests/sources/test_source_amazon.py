from __future__ import annotations

from collections.abc import Callable

import pytest

from sources.amazon_reviews import parse_page, parse_review_date, review_page_url
from sources.record import ParseError, PermanentSourceError

DE_URL = "https://www.amazon.de/product-reviews/B07XJ8C8F5/?pageNumber=1"


def test_review_page_url_has_amazons_path_shape() -> None:
    assert review_page_url("https://www.{marketplace}", "b07xj8c8f5", "amazon.de", page=3) == (
        "https://www.amazon.de/product-reviews/B07XJ8C8F5/?pageNumber=3"
    )
    assert review_page_url(
        "http://127.0.0.1:8900/amazon/{marketplace}/", "B07XJ8C8F5", "amazon.com"
    ) == ("http://127.0.0.1:8900/amazon/amazon.com/product-reviews/B07XJ8C8F5/?pageNumber=1")


def test_review_page_url_rejects_malformed_asin() -> None:
    with pytest.raises(PermanentSourceError):
        review_page_url("https://www.{marketplace}", "B07-XJ8", "amazon.de")


def test_german_page_yields_reviews_with_all_fields(page: Callable[[str], str]) -> None:
    result = parse_page(page("amazon_de_reviews.html"), url=DE_URL)
    assert (result.asin, result.marketplace, result.page) == ("B07XJ8C8F5", "amazon.de", 1)
    assert result.product_title == "Cooks Essentials 12-in-1 Schnellkochtopf 6 L, Edelstahl"
    assert result.image_url.startswith("https://m.media-amazon.com/images/I/71Zf9uUp+GL")
    assert result.total_reviews == 87
    assert result.average_rating == 4.3
    assert result.histogram == {"5": 71, "4": 12, "3": 6, "2": 3, "1": 8}
    assert [r.amazon_review_id for r in result.reviews] == [
        "R3QH2K7N9XWZ1A",
        "R1B8XP0VLM4DQE",
        "R2ZK4INTL0GB77",
    ]
    first, second, foreign = result.reviews
    assert first.rating == 5.0
    assert first.title == "Spart mir jeden Abend eine halbe Stunde"
    assert first.author == "Stefan M."
    assert (first.date, first.country) == ("2024-03-03", "Germany")
    assert first.verified_purchase and first.helpful_votes == 12
    assert first.content.splitlines() == [
        "Ich koche damit fast jeden Tag. Reis in 12 Minuten, Gulasch in 35.",
        "Der Deckel sitzt fest & die Dichtung lässt sich gut reinigen.",
    ]
    assert "Weiterlesen" not in first.content
    assert (second.rating, second.helpful_votes, second.verified_purchase) == (2.0, 1, False)
    assert (foreign.rating, foreign.title, foreign.country) == (
        4.0,
        "Great value, loud release valve",
        "United Kingdom",
    )
    assert foreign.verified_purchase and foreign.helpful_votes == 0
    assert all(r.is_top_review for r in result.reviews)  # first page, sorted by "Top-Rezensionen"
    assert result.next_page_url == (
        "https://www.amazon.de/product-reviews/B07XJ8C8F5/ref=cm_cr_arp_d_paging_btm_next_2"
        "?ie=UTF8&reviewerType=all_reviews&pageNumber=2"
    )


def test_english_last_page_sorted_by_recent(page: Callable[[str], str]) -> None:
    url = (
        "https://www.amazon.com/product-reviews/B0C1X2Y3Z4/ref=cm_cr_getr_d_paging_btm_next_32"
        "?ie=UTF8&reviewerType=all_reviews&sortBy=recent&pageNumber=32"
    )
    result = parse_page(page("amazon_com_reviews.html"), url=url)
    assert (result.asin, result.marketplace, result.page) == ("B0C1X2Y3Z4", "amazon.com", 32)
    assert result.total_reviews == 312 and result.average_rating == 3.8
    assert result.histogram["1"] == 15
    assert result.next_page_url is None
    first, second = result.reviews
    assert (first.rating, first.date, first.country) == (1.0, "2024-03-03", "United States")
    assert first.helpful_votes == 1024 and first.verified_purchase
    assert first.content.endswith("longer than that <sigh>.")
    assert (second.author, second.helpful_votes) == ("D. Evans", 1)
    assert not any(r.is_top_review for r in result.reviews)


def test_asin_and_marketplace_come_from_arguments_first(page: Callable[[str], str]) -> None:
    result = parse_page(
        page("amazon_com_reviews.html"), asin="B0C1X2Y3Z4", marketplace="amazon.com"
    )
    assert result.asin == "B0C1X2Y3Z4" and result.page == 1


def test_captcha_page_is_a_parse_error(page: Callable[[str], str]) -> None:
    with pytest.raises(ParseError, match="captcha"):
        parse_page(page("amazon_captcha.html"), url=DE_URL)


@pytest.mark.parametrize("junk", ["", "<html><body><p>Hello</p></body></html>", '{"not": "html"}'])
def test_pages_without_review_markup_are_parse_errors(junk: str) -> None:
    with pytest.raises(ParseError):
        parse_page(junk, url=DE_URL)


def test_valid_page_with_zero_reviews_parses() -> None:
    html = (
        '<html><body><a data-hook="product-link" href="/dp/B000000001">Thing</a>'
        '<div id="cm_cr-review_list"><span>No customer reviews</span></div></body></html>'
    )
    result = parse_page(html, asin="B000000001", marketplace="amazon.de")
    assert result.reviews == [] and result.product_title == "Thing"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Reviewed in Germany on 3 March 2024", ("2024-03-03", "Germany")),
        ("Reviewed in the United States on March 3, 2024", ("2024-03-03", "United States")),
        ("Rezension aus Deutschland vom 3. März 2024", ("2024-03-03", "Germany")),
        ("Commenté en France le 1er mars 2024", ("2024-03-01", "France")),
        ("Recensito in Italia il 3 marzo 2024", ("2024-03-03", "Italy")),
        ("Revisado en España el 3 de marzo de 2024", ("2024-03-03", "Spain")),
    ],
)
def test_localized_review_dates(line: str, expected: tuple[str, str]) -> None:
    assert parse_review_date(line) == expected
