"""Amazon review pages (`/product-reviews/<ASIN>/`) parsed from their markup, in every
marketplace language, and followed page by page."""

from __future__ import annotations

import copy
import re
import unicodedata
from datetime import date
from urllib.parse import parse_qs, urljoin, urlsplit

from lxml.html import HtmlElement

from sources import amazon_locales as loc
from sources.http import HttpClient
from sources.record import ParseError, PermanentSourceError, Review, ReviewPage
from sources.urls import domain_of
from sources.values import parse_html, parse_int, parse_number

ASIN_RE = re.compile(r"^[A-Z0-9]{10}$")
_ONE = {"one", "eine", "ein", "une", "un", "una", "uno", "een", "jedna", "en", "bir", "uma"}
_STRUCTURE = (
    '//*[@data-hook="review" or @data-hook="product-link" or @data-hook="rating-out-of-text"'
    ' or @data-hook="total-review-count" or @data-hook="cr-filter-info-review-rating-count"'
    ' or @id="cm_cr-review_list"]'
)


def _hook(root: HtmlElement, *names: str) -> HtmlElement | None:
    """The first element carrying the first of `names` found as its data-hook."""
    for name in names:
        found = root.xpath(f'.//*[@data-hook="{name}"]')
        if found:
            return found[0]
    return None


def _text(element: HtmlElement | None, skip_icons: bool = False) -> str | None:
    """Visible text of an element, line breaks kept; star icons dropped from titles."""
    if element is None:
        return None
    element = copy.deepcopy(element)
    unwanted = './/script | .//style | .//*[contains(@class, "a-expander-header")]'
    if skip_icons:
        unwanted += ' | .//i | .//*[contains(@class, "a-icon-alt")]'
    for node in element.xpath(unwanted):
        node.drop_tree()
    for br in element.iter("br"):
        br.tail = "\n" + (br.tail or "")
    lines = (" ".join(line.split()) for line in element.text_content().split("\n"))
    return "\n".join(line for line in lines if line) or None


def _date_match(text: str) -> tuple[str, str | None]:
    """(the date part, the country as the page names it) of a "Reviewed in … on …" line."""
    for pattern in (loc.DATE_LINE, loc.DATE_LINE_TR, loc.DATE_LINE_JA):
        match = pattern.search(text)
        if match:
            return match.group("date"), match.group("country")
    return text, None


def parse_review_date(text: str | None) -> tuple[str | None, str | None]:
    """(ISO date, English country name) from a localized "Reviewed in … on …" line."""
    if not text:
        return None, None
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    text, named = _date_match(text)
    country = None
    if named:
        raw = re.sub(r"^(?:the|den|dem|der|los|las|la|le|les|gli|l')\s*", "", named).strip()
        country = loc.COUNTRIES.get(raw.lower(), raw)
    japanese = re.search(r"(\d{4})年(\d{1,2})月(\d{1,2})日", text)
    if japanese:
        y, m, d = map(int, japanese.groups())
        return date(y, m, d).isoformat(), country
    words = re.findall(r"\d+|[^\W\d_]+", text.lower())
    day: int | None = None
    month: int | None = None
    year: int | None = None
    for word in words:
        if word.isdigit():
            if len(word) == 4:
                year = int(word)
            elif day is None:
                day = int(word)
        elif month is None and word in loc.MONTHS:
            month = loc.MONTHS[word]
    try:
        return (date(year, month, day).isoformat() if year and month and day else None), country
    except ValueError:
        return None, country


def parse_rating(text: str | None) -> float | None:
    """4.0 from "4.0 out of 5 stars", "4,0 von 5 Sternen", "5つ星のうち4.0",
    "5 üzerinden 4,0" (Turkish); None for anything outside 0-5."""
    if not text:
        return None
    numbers = re.findall(r"\d+(?:[.,]\d+)?", text)
    if not numbers:
        return None
    scale_first = any(word in text for word in loc.SCALE_FIRST)
    rating = parse_number(numbers[-1] if scale_first else numbers[0])
    return rating if rating is not None and 0 <= rating <= 5 else None


def parse_helpful(text: str | None) -> int:
    if not text:
        return 0
    count = parse_int(text)
    if count is not None:
        return count
    return 1 if set(re.findall(r"\w+", text.lower())) & _ONE else 0


def review_page_url(base_url: str, asin: str, marketplace: str, page: int = 1) -> str:
    """`{base}/product-reviews/{ASIN}/?pageNumber={page}`; base may hold `{marketplace}`."""
    asin = asin.strip().upper()
    if not ASIN_RE.match(asin):
        raise PermanentSourceError(f"invalid ASIN {asin!r}: expected 10 letters or digits")
    base = base_url.replace("{marketplace}", marketplace).rstrip("/")
    return f"{base}/product-reviews/{asin}/?pageNumber={int(page)}"


def _page_context(url: str | None) -> tuple[str | None, str | None, int, str | None]:
    if not url:
        return None, None, 1, None
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    asin_match = re.search(r"/(?:product-reviews|dp)/([A-Za-z0-9]{10})(?:/|$)", parts.path)
    market = re.search(r"(amazon\.[a-z.]+)", (parts.hostname or "") + parts.path)
    page = parse_int((query.get("pageNumber") or ["1"])[0]) or 1
    return (
        asin_match.group(1).upper() if asin_match else None,
        market.group(1).rstrip(".") if market else None,
        page,
        next(iter(query.get("sortBy") or []), None),
    )


def _histogram(tree: HtmlElement) -> dict[str, int]:
    table = tree.xpath('//*[@id="histogramTable"]')
    if not table:
        return {}
    histogram: dict[str, int] = {}
    for row in table[0].xpath(".//tr | .//li"):
        text = " ".join(row.text_content().split())
        star_class = row.xpath('.//a[contains(@class, "star")]/@class')
        star = re.search(r"([1-5])star", " ".join(star_class)) or re.search(r"\b([1-5])\b", text)
        percent = re.findall(r"(\d{1,3})\s*%", text) or row.xpath(
            ".//*[@aria-valuenow]/@aria-valuenow"
        )
        if star and percent:
            histogram[star.group(1)] = parse_int(percent[-1]) or 0
    return histogram


def _verified(node: HtmlElement) -> bool:
    if node.xpath('.//*[starts-with(@data-hook, "avp-badge")]'):
        return True
    badges = node.xpath('.//*[contains(@class, "a-color-state") or contains(@class, "avp")]')
    return any(" ".join(b.text_content().split()).lower() in loc.VERIFIED for b in badges)


def _star_filter(tree: HtmlElement, url: str | None) -> int | None:
    """The star rating a filtered review list shows only (1-5), or None for all reviews."""
    chosen = (parse_qs(urlsplit(url).query).get("filterByStar") or [""])[0] if url else ""
    if not chosen:
        selected = tree.xpath('//select[@id="star-count-dropdown"]/option[@selected]/@value')
        chosen = selected[0] if selected else ""
    word = chosen.lower().removesuffix("_star")
    return loc.STAR_WORDS.get(word)


def _review(node: HtmlElement, top: bool) -> Review:
    review_id = (node.get("id") or "").removeprefix("customer_review-")
    rating_el = _hook(node, "review-star-rating", "cmps-review-star-rating")
    day, country = parse_review_date(_text(_hook(node, "review-date")))
    body = _hook(node, "review-collapsed", "review-body")
    author = node.xpath('.//*[contains(@class, "a-profile-name")]')
    return Review(
        amazon_review_id=review_id,
        rating=parse_rating(_text(rating_el)),
        title=_text(_hook(node, "review-title"), skip_icons=True),
        content=_text(body),
        author=_text(author[0]) if author else None,
        date=day,
        country=country,
        verified_purchase=_verified(node),
        helpful_votes=parse_helpful(_text(_hook(node, "helpful-vote-statement"))),
        is_top_review=top,
    )


def parse_page(
    html: str, *, asin: str | None = None, marketplace: str | None = None, url: str | None = None
) -> ReviewPage:
    """One Amazon review page; ParseError for captcha, sign-in or unrelated pages."""
    tree = parse_html(html)
    if tree.xpath('//form[contains(@action, "validateCaptcha")]'):
        raise ParseError("Amazon answered with a captcha page instead of reviews")
    if not tree.xpath(_STRUCTURE):
        if tree.xpath('//form[@name="signIn"]'):
            raise ParseError("Amazon answered with a sign-in page instead of reviews")
        raise ParseError("not an Amazon review page: no review markup found")
    url_asin, url_market, page_number, sort = _page_context(url)
    selected = tree.xpath('//select[@id="sort-order-dropdown"]/option[@selected]/@value')
    sort = sort or (selected[0] if selected else None)
    top = bool(
        tree.xpath(
            '//*[@data-hook="dp-local-reviews-header" or @data-hook="top-customer-reviews-title"]'
        )
    )
    top = top or (sort == "helpful" and page_number == 1)
    product_link = _hook(tree, "product-link")
    page_asin = (
        re.search(r"/dp/([A-Z0-9]{10})", product_link.get("href", ""))
        if product_link is not None
        else None
    )
    image = tree.xpath(
        '//img[@data-hook="cr-product-image"]/@src | //*[@data-hook="cr-product-image"]//img/@src'
        ' | //*[@id="cm_cr-product_info"]//img/@src'
    )
    star_filter = _star_filter(tree, url)
    counts = _text(_hook(tree, "cr-filter-info-review-rating-count"))
    # "1 204 évaluations au total, 311 avec avis": text cleaning made the no-break
    # space a plain one, so groups of three digits after a space belong to the number.
    numbers = re.findall(r"\d{1,3}(?:[ .,\u00a0\u202f]\d{3})+(?!\d)|\d+", counts or "")
    # A filtered list's counts are the filter's, not the product's: leave the total unknown.
    total = (
        None
        if star_filter is not None
        else parse_int(numbers[1])
        if len(numbers) > 1
        else parse_int(_text(_hook(tree, "total-review-count")))
    )
    next_link = tree.xpath(
        '//li[contains(@class, "a-last") and not(contains(@class, "a-disabled"))]//a/@href'
    )
    return ReviewPage(
        asin=(asin or url_asin or (page_asin.group(1) if page_asin else "")).upper(),
        marketplace=marketplace or url_market or "",
        page=page_number,
        product_title=_text(product_link),
        image_url=image[0] if image else None,
        total_reviews=total,
        average_rating=parse_rating(_text(_hook(tree, "rating-out-of-text"))),
        histogram=_histogram(tree),
        star_filter=star_filter,
        reviews=[_review(node, top) for node in tree.xpath('//*[@data-hook="review"]')],
        next_page_url=(urljoin(url, next_link[0]) if url else next_link[0]) if next_link else None,
    )


def fetch_reviews(
    client: HttpClient, asin: str, marketplace: str, *, base_url: str, max_pages: int = 10
) -> list[ReviewPage]:
    """Fetch the review pages of an ASIN, following "next page" links up to max_pages."""
    url: str | None = review_page_url(base_url, asin, marketplace)
    # Pagination links must stay on the marketplace we were pointed at.
    allowed = [domain_of(base_url.replace("{marketplace}", marketplace))]
    pages: list[ReviewPage] = []
    seen: set[str] = set()
    while url and url not in seen and len(pages) < max_pages:
        seen.add(url)
        response = client.get(url, allowed_domains=allowed)
        page = parse_page(response.text, asin=asin, marketplace=marketplace, url=response.url)
        pages.append(page)
        url = page.next_page_url
    return pages
