"""Simulated Amazon review pages, marked up the way amazon.* serves them (data-hook
attributes, localized dates and counts, histogram, pagination), 10 reviews a page."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import escape
from typing import Any

from flask import Blueprint, abort, current_app, request

from simulator import amazon_locales as loc
from simulator.data import make_item, rng

bp = Blueprint("amazon", __name__)
PER_PAGE = 10
ASIN_RE = re.compile(r"^[A-Za-z0-9]{10}$")
MARKETPLACE_RE = re.compile(r"^amazon\.[a-z]{2,3}(?:\.[a-z]{2})?$")
_ANCHOR = date(2024, 6, 1)

_PAGE = """<!doctype html><html lang="{html_lang}" class="a-no-js" data-19ax5a9jf="dingo"><head>
<meta charset="utf-8"><title>Amazon.{tld}: {heading}: {title}</title>
<link rel="canonical" href="https://www.{market}/product-reviews/{asin}/">
<script>var ue_t0=ue_t0||+new Date();(window.AmazonUIPageJS||function(){{}})('cr',function(){{}});</script>
<style>.a-icon-star{{display:inline-block}}.cr-widget-FocalReviews .review{{margin:0}}</style>
</head><body class="a-m-de a-aui_72554-c">
<div id="a-page"><header id="navbar-main"><a href="/" aria-label="Amazon.{tld}" class="nav-logo-link">Amazon</a>
<form role="search" id="nav-search-bar-form" action="/s"><input type="text" name="field-keywords"></form>
<div id="nav-cart-count" class="nav-cart-count">0</div></header>
<div id="cm_cr-product_info" class="a-section a-spacing-none"><div class="a-row product-info">
<div class="a-column a-span4"><a class="a-link-normal" href="/dp/{asin}/ref=cm_cr_arp_d_product_top?ie=UTF8">
<img alt="{title}" src="https://m.media-amazon.com/images/I/{image}._AC_US60_SCLZZZZZZZ__.jpg" data-hook="cr-product-image"></a></div>
<div class="a-column a-span8 a-span-last"><h1 class="a-size-large"><a data-hook="product-link" class="a-link-normal" href="/dp/{asin}/ref=cm_cr_arp_d_product_top?ie=UTF8">{title}</a></h1>
<div class="a-row"><span class="a-size-base">{brand}</span></div></div></div></div>
<div id="cm_cr-brdcmb" class="a-section"><h2 class="a-size-large">{heading}</h2></div>
<div class="a-row"><i data-hook="average-star-rating" class="a-icon a-icon-star a-star-4-5"><span class="a-icon-alt">{avg_stars}</span></i>
<span data-hook="rating-out-of-text" class="a-size-medium a-color-base">{avg_text}</span></div>
<div class="a-row a-spacing-medium averageStarRatingNumerical"><span data-hook="total-review-count" class="a-size-base a-color-secondary">{global_text}</span></div>
<table id="histogramTable" class="a-normal a-align-center a-spacing-base" role="presentation"><tbody>{histogram}</tbody></table>
<div class="a-row a-spacing-base"><span class="a-dropdown-container"><select name="sortBy" autocomplete="off" id="sort-order-dropdown" class="a-native-dropdown">
<option value="helpful"{sel_helpful}>{top}</option><option value="recent"{sel_recent}>{recent}</option></select></span></div>
<div id="filter-info-section" class="a-row a-spacing-base"><div data-hook="cr-filter-info-review-rating-count" class="a-row a-spacing-base a-size-base">{filter_text}</div></div>
<div id="cm_cr-review_list" class="a-section a-spacing-none review-views celwidget">{reviews}
<div class="a-form-actions a-spacing-top-extra-large"><span class="a-declarative"><ul class="a-pagination">{prev}{next}</ul></span></div></div>
<script type="text/javascript">P.when('cr-A').execute(function(A){{A.trigger('cr:loaded',{{asin:'{asin}',page:{page}}});}});</script>
<footer class="navLeftFooter"><a href="/gp/help/customer/display.html">Help</a></footer></div></body></html>"""

_REVIEW = """<div id="{rid}" data-hook="review" class="a-section review aok-relative"><div id="{rid}-review-card" class="a-row a-spacing-none">
<div id="customer_review-{rid}" class="a-section celwidget"><div data-hook="genome-widget" class="a-row a-spacing-mini"><a href="/gp/profile/amzn1.account.{rid}" class="a-profile"><div aria-hidden="true" class="a-profile-avatar-wrapper"><div class="a-profile-avatar"><img src="https://images-eu.ssl-images-amazon.com/images/S/amazon-avatars-global/default.png" class="" alt=""></div></div><div class="a-profile-content"><span class="a-profile-name">{author}</span></div></a></div>
<div class="a-row"><a class="a-link-normal" title="{stars}" href="/gp/customer-reviews/{rid}/ref=cm_cr_arp_d_rvw_ttl?ie=UTF8&amp;ASIN={asin}"><i data-hook="review-star-rating" class="a-icon a-icon-star a-star-{r} review-rating"><span class="a-icon-alt">{stars}</span></i></a><span class="a-letter-space"></span>
<a data-hook="review-title" class="a-size-base a-link-normal review-title a-color-base review-title-content a-text-bold" href="/gp/customer-reviews/{rid}/ref=cm_cr_arp_d_rvw_ttl?ie=UTF8&amp;ASIN={asin}"><span>{title}</span></a></div>
<span data-hook="review-date" class="a-size-base a-color-secondary review-date">{date_text}</span>
<div class="a-row a-spacing-mini review-data review-format-strip"><a data-hook="format-strip" class="a-size-mini a-link-normal a-color-secondary" href="/product-reviews/{asin}/">Style: Standard</a>{verified}</div>
<div class="a-row a-spacing-small review-data"><span data-hook="review-body" class="a-size-base review-text review-text-content"><span>{body}</span></span></div>
<div class="a-row a-spacing-none"><div class="a-section review-comments comments-for-{rid}"><div class="a-row a-spacing-small"><span class="cr-vote"><div class="a-row a-spacing-none cr-vote-action-bar">{helpful}
<span class="a-button a-button-base"><span class="a-button-inner"><a class="a-button-text" href="#" role="button">{helpful_btn}</a></span></span></div></span></div></div></div>
</div></div></div>"""

_HIST_ROW = """<tr class="a-histogram-row a-align-center"><td class="aok-nowrap"><span class="a-size-base"><a class="a-link-normal {s}star" title="{s} stars represent {p}% of rating" href="/product-reviews/{asin}/?filterByStar={word}_star">{label}</a></span></td>
<td class="a-span10"><a class="a-link-normal" href="#"><div class="a-meter" role="progressbar" aria-valuenow="{p}%"><div class="a-meter-bar a-meter-filled" style="width: {p}%;"></div></div></a></td>
<td class="a-text-right a-nowrap"><span class="a-size-base"><a class="a-link-normal" href="#">{p}%</a></span></td></tr>"""

CAPTCHA_PAGE = """<!doctype html><html lang="en"><head><title>Amazon.com</title></head><body>
<div class="a-container a-padding-double-large"><h4>Enter the characters you see below</h4>
<p class="a-last">Sorry, we just need to make sure you're not a robot. For best results, please make sure your browser is accepting cookies.</p>
<form method="get" action="/errors/validateCaptcha" name=""><input type=hidden name="amzn" value="x4PRz"><img src="https://images-na.ssl-images-amazon.com/captcha/usvmgloq/Captcha_kwrrnqwkph.jpg">
<input autocomplete="off" spellcheck="false" placeholder="Type characters" id="captchacharacters" name="field-keywords" type="text">
<button type="submit" class="a-button-text">Continue shopping</button></form></div></body></html>"""

_WORDS = ("one", "two", "three", "four", "five")


def review_total(seed: int, asin: str) -> int:
    r = rng(seed, "amazon-total", asin)
    return 0 if r.random() < 0.2 else r.randint(1, 80)


def _histogram(seed: int, asin: str) -> tuple[dict[int, int], float]:
    r = rng(seed, "amazon-hist", asin)
    weights = {
        5: r.randint(30, 70),
        4: r.randint(5, 25),
        3: r.randint(2, 12),
        2: r.randint(1, 8),
        1: r.randint(2, 15),
    }
    total = sum(weights.values())
    percents = {s: round(w * 100 / total) for s, w in weights.items()}
    average = round(sum(s * w for s, w in weights.items()) / total, 1)
    return percents, average


def _review_html(seed: int, asin: str, index: int, locale: dict[str, Any]) -> str:
    r = rng(seed, "amazon-review", asin, index)
    rating = r.choices((5, 4, 3, 2, 1), weights=(50, 20, 10, 7, 13))[0]
    sentences = loc.SENTENCES[locale["lang"]]
    body = "<br>".join(r.sample(sentences, r.randint(1, 4)))
    votes = r.choice((0, 0, 0, 1, r.randint(2, 40), r.randint(2, 2500)))
    helpful = (
        ""
        if votes == 0
        else (
            f'<span data-hook="helpful-vote-statement" class="a-size-base a-color-tertiary cr-vote-text">'
            f"{escape(locale['one'] if votes == 1 else locale['many'].format(n=loc.group(votes, locale['thousands'])))}</span>"
        )
    )
    verified = (
        f'<i class="a-icon a-icon-text-separator" role="img"></i><span data-hook="avp-badge" '
        f'class="a-size-mini a-color-state a-text-bold">{locale["verified"]}</span>'
        if r.random() < 0.8
        else ""
    )
    day = _ANCHOR - timedelta(days=r.randint(0, 700))
    stars = locale["stars"].format(r=rating)
    return _REVIEW.format(
        rid="R" + "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(13)),
        author=escape(r.choice(loc.AUTHORS)),
        stars=stars,
        r=rating,
        asin=asin,
        title=escape(r.choice(loc.TITLES[locale["lang"]])),
        date_text=escape(
            locale["reviewed"].format(country=locale["country"], date=locale["date"](day))
        ),
        verified=verified,
        body=body.replace("'", "&#39;"),
        helpful=helpful,
        helpful_btn=locale["helpful_btn"],
    )


def render_reviews(
    seed: int, marketplace: str, asin: str, page: int, sort: str, prefix: str
) -> str:
    locale = loc.locale_for(marketplace)
    item = make_item(seed, "amazon", asin)
    total = review_total(seed, asin)
    percents, average = _histogram(seed, asin)
    ratings = total + rng(seed, "amazon-ratings", asin).randint(0, 3 * total) if total else 0
    pages = max(1, -(-total // PER_PAGE))
    indexes = list(range((page - 1) * PER_PAGE, min(page * PER_PAGE, total)))
    if sort == "recent":  # "helpful" order is index order; "recent" simply walks it backwards
        indexes = [total - 1 - i for i in indexes]
    reviews = "".join(_review_html(seed, asin, i, locale) for i in indexes) or (
        f'<div class="a-section a-spacing-top-large a-text-center no-reviews-section">'
        f'<span class="a-size-medium">{locale["none"]}</span></div>'
    )
    link = f"{prefix}/product-reviews/{asin}/ref=cm_cr_arp_d_paging_btm_next_{{n}}?ie=UTF8&amp;reviewerType=all_reviews&amp;pageNumber={{n}}"
    if sort != "helpful":
        link += f"&amp;sortBy={sort}"
    prev = (
        f'<li class="a-normal"><a href="{link.format(n=page - 1)}">{locale["prev"]}</a></li>'
        if page > 1
        else f'<li class="a-disabled">{locale["prev"]}</li>'
    )
    nxt = (
        f'<li class="a-last"><a href="{link.format(n=page + 1)}">{locale["next"]}<span class="a-letter-space"></span>→</a></li>'
        if page < pages
        else f'<li class="a-disabled a-last">{locale["next"]}</li>'
    )
    avg = f"{average:.1f}".replace(".", locale["decimal"])
    histogram = (
        "".join(
            _HIST_ROW.format(
                s=s, p=percents[s], asin=asin, word=_WORDS[s - 1], label=locale["star"].format(s=s)
            )
            for s in (5, 4, 3, 2, 1)
        )
        if total
        else ""
    )
    return _PAGE.format(
        html_lang=locale["html_lang"],
        tld=marketplace.removeprefix("amazon."),
        market=marketplace,
        heading=locale["heading"],
        title=escape(item.title),
        brand=escape(item.brand),
        asin=asin,
        image=item.image_id.upper()[:11],
        avg_stars=locale["stars"].format(r=round(average)),
        avg_text=locale["avg"].format(a=avg) if total else "",
        histogram=histogram,
        global_text=locale["global"].format(n=loc.group(ratings, locale["thousands"])),
        filter_text=locale["filter"].format(
            n=loc.group(ratings, locale["thousands"]), m=loc.group(total, locale["thousands"])
        ),
        top=locale["top"],
        recent=locale["recent"],
        sel_helpful=' selected=""' if sort == "helpful" else "",
        sel_recent=' selected=""' if sort == "recent" else "",
        reviews=reviews,
        prev=prev,
        next=nxt,
        page=page,
    )


@bp.get("/amazon/<marketplace>/product-reviews/<asin>/", strict_slashes=False)
@bp.get("/amazon/<marketplace>/product-reviews/<asin>/<path:ref>")
def reviews(marketplace: str, asin: str, ref: str | None = None) -> tuple[str, int, dict[str, str]]:
    if not ASIN_RE.match(asin) or not MARKETPLACE_RE.match(marketplace):
        abort(404)
    asin = asin.upper()
    try:
        page = max(1, int(request.args.get("pageNumber", "1")))
    except ValueError:
        page = 1
    sort = "recent" if request.args.get("sortBy") == "recent" else "helpful"
    seed = current_app.extensions["simulator"].seed
    html = render_reviews(seed, marketplace, asin, page, sort, f"/amazon/{marketplace}")
    return html, 200, {"Content-Type": "text/html;charset=UTF-8"}
