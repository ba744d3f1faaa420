"""How each Amazon marketplace words a review page: months, "Reviewed in … on …" lines,
country names, star texts and the "Verified Purchase" badge."""

# Turkish words carry the dotless i (U+0131) on purpose; it is no look-alike here.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from typing import Final

MONTHS: Final[dict[str, int]] = {
    name: number
    for number, names in enumerate(
        [
            "january janvier januar jänner gennaio enero januari jan janeiro stycznia ocak",
            "february février fevrier februar febbraio febrero februari feb fevereiro lutego şubat",
            "march mars märz marz marzo maart mar março marca mart",
            "april avril aprile abril apr kwietnia nisan",
            "may mai maggio mayo mei maio maja maj mayıs",
            "june juin juni giugno junio jun junho czerwca haziran",
            "july juillet juli luglio julio jul julho lipca temmuz",
            "august août aout agosto augustus aug augusti sierpnia ağustos",
            "september septembre settembre septiembre setiembre sep sept setembro września eylül",
            "october octobre oktober ottobre octubre oct okt outubro października ekim",
            "november novembre noviembre nov novembro listopada kasım",
            "december décembre decembre dezember dicembre diciembre dec dez dezembro grudnia"
            " aralık",
        ],
        start=1,
    )
    for name in names.split()
}
# "Reviewed in Germany on …", "Rezension aus Deutschland vom …", "Commenté en France le …",
# "Recensito in Italia il …", "Revisado en España el …", "Beoordeeld in Nederland op …",
# "Zrecenzowano w Polsce dnia …", "Recenserad i Sverige den …", "Avaliado no Brasil em …"
DATE_LINE: Final = re.compile(
    r"(?:Reviewed in|Rezension aus|Commenté (?:en|au|aux|à)|Recensit[oa] (?:in|negli|nel|nei)"
    r"|(?:Revisado|Calificado|Reseñado) en|Beoordeeld in|Zrecenzowano w|Recenserad i"
    r"|Avaliad[oa] n[oa]s?)\s+(?P<country>.+?)\s+"
    r"(?:on|vom|le|il|el|op|dnia|w dniu|den|em)\s+(?P<date>.*\d{4})",
    re.I,
)
# "Türkiye'de 3 Mart 2024 tarihinde değerlendirildi": the country comes first.
DATE_LINE_TR: Final = re.compile(
    r"(?P<country>\S+?)['’](?:de|da|te|ta)\s+(?P<date>.*?\d{4})\s+tarihinde", re.I
)
# "2024年3月3日に日本でレビュー済み"
DATE_LINE_JA: Final = re.compile(r"(?P<date>\d{4}年\d{1,2}月\d{1,2}日)に(?P<country>.+?)で")
COUNTRIES: Final[dict[str, str]] = {
    "deutschland": "Germany",
    "vereinigten staaten": "United States",
    "vereinigte staaten": "United States",
    "vereinigtes königreich": "United Kingdom",
    "vereinigten königreich": "United Kingdom",
    "frankreich": "France",
    "italien": "Italy",
    "spanien": "Spain",
    "états-unis": "United States",
    "royaume-uni": "United Kingdom",
    "allemagne": "Germany",
    "italie": "Italy",
    "espagne": "Spain",
    "italia": "Italy",
    "stati uniti": "United States",
    "regno unito": "United Kingdom",
    "germania": "Germany",
    "francia": "France",
    "spagna": "Spain",
    "españa": "Spain",
    "estados unidos": "United States",
    "reino unido": "United Kingdom",
    "alemania": "Germany",
    "méxico": "Mexico",
    "nederland": "Netherlands",
    "netherlands": "Netherlands",
    "duitsland": "Germany",
    "verenigde staten": "United States",
    "polsce": "Poland",
    "polska": "Poland",
    "niemczech": "Germany",
    "stanach zjednoczonych": "United States",
    "sverige": "Sweden",
    "tyskland": "Germany",
    "usa": "United States",
    "türkiye": "Turkey",
    "almanya": "Germany",
    "日本": "Japan",
    "アメリカ合衆国": "United States",
    "brasil": "Brazil",
    "belgique": "Belgium",
    "belgië": "Belgium",
    "belgien": "Belgium",
}
# The badge's text when the page carries no data-hook for it.
VERIFIED: Final = frozenset(
    {
        "verified purchase",
        "verifizierter kauf",
        "achat vérifié",
        "acquisto verificato",
        "compra verificada",
        "geverifieerde aankoop",
        "zweryfikowany zakup",
        "verifierat köp",
        "doğrulanmış alışveriş",
        "amazonで購入",
        "compra verificada pela amazon",
    }
)
# Texts where the scale comes before the rating: "5つ星のうち4.0", "5 … üzerinden 4,0".
SCALE_FIRST: Final = ("のうち", "üzerinden")
# `filterByStar` values (`one_star` … `five_star`) and the stars each keeps.
STAR_WORDS: Final = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
