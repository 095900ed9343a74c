"""arXiv identifiers: parsing, validation and the canonical (versionless) form.

Two schemes exist (https://info.arxiv.org/help/arxiv_identifier.html):

* new style, since 2007-04: ``YYMM.NNNN`` (0704-1412) or ``YYMM.NNNNN`` (1501 on), optional ``vN``;
* old style, 1991-08 to 2007-03: ``archive[.SC]/YYMMNNN``, optional ``vN``. The subject class is
  not part of the canonical id (``math.CA/0611800v2`` is ``math/0611800`` version 2).

Like papers.cool we are lenient about the width of the new-style sequence number: it is re-padded
to the width its ``YYMM`` requires (``1406.02661`` -> ``1406.2661``, ``2401.6769`` ->
``2401.06769``); a number that does not fit that width is rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coolpapers.errors import BadId

__all__ = [
    "ArxivId",
    "VenueKey",
    "canonical_str",
    "id_ranges_of_year",
    "is_venue_key",
    "looks_like_id",
    "parse_id",
    "parse_venue_key",
]


@dataclass(frozen=True)
class ArxivId:
    id: str  # canonical and versionless: "2401.00001", "hep-th/9901001"
    version: int | None  # None: "the latest version"


_MAX_INPUT = 300

# Archives that issued old-style identifiers (1991-2007). Used to reject things such as
# "foo/0101001" and to repair a missing hyphen ("hepth/9901001").
_OLD_ARCHIVES = frozenset(
    {
        "acc-phys", "adap-org", "alg-geom", "ao-sci", "astro-ph", "atom-ph", "bayes-an",
        "chao-dyn", "chem-ph", "cmp-lg", "comp-gas", "cond-mat", "cs", "dg-ga", "funct-an",
        "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math", "math-ph", "mtrl-th", "nlin",
        "nucl-ex", "nucl-th", "patt-sol", "physics", "plasm-ph", "q-alg", "q-bio", "quant-ph",
        "solv-int", "supr-con",
    }
)  # fmt: skip
_UNHYPHENATED = {a.replace("-", ""): a for a in _OLD_ARCHIVES if "-" in a}

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_URL_PREFIX_RE = re.compile(
    r"^(?:(?:https?://)?(?:www\.|export\.)?arxiv\.org)?/?(?P<kind>abs|pdf|html)/", re.IGNORECASE
)
_ARXIV_PREFIX_RE = re.compile(r"^arxiv:\s*", re.IGNORECASE)
_PDF_SUFFIX_RE = re.compile(r"\.pdf$", re.IGNORECASE)
_NEW_RE = re.compile(r"^(?P<yy>\d\d)(?P<mm>\d\d)\.(?P<num>\d{4,5})(?:[vV](?P<v>\d{1,4}))?$")
_OLD_RE = re.compile(
    r"^(?P<archive>[A-Za-z]+(?:-[A-Za-z]+)?)(?:\.(?P<sc>[A-Za-z][A-Za-z-]+))?"
    r"/(?P<yy>\d\d)(?P<mm>\d\d)(?P<num>\d{3})(?:[vV](?P<v>\d{1,4}))?$"
)
# Shape-only patterns for looks_like_id: no range checks, any number width.
_NEW_SHAPE_RE = re.compile(r"^\d{4}\.\d{1,6}(?:[vV]\d+)?$")
_OLD_SHAPE_RE = re.compile(r"^[A-Za-z]+(?:-[A-Za-z]+)?(?:\.[A-Za-z-]+)?/\d{7}(?:[vV]\d+)?$")


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _strip_decorations(text: str) -> str:
    """Remove URL / ``arXiv:`` prefixes and a ``.pdf`` suffix; return the bare id text."""
    s = text.strip()
    m = _URL_PREFIX_RE.match(s)
    if m:
        s = s[m.end() :]
        # A URL may carry a query or a fragment; a trailing slash is harmless.
        s = re.split(r"[?#]", s, maxsplit=1)[0].rstrip("/")
    s = _ARXIV_PREFIX_RE.sub("", s, count=1)
    return _PDF_SUFFIX_RE.sub("", s)


def _version(raw: str | None, original: str) -> int | None:
    if raw is None:
        return None
    if raw.startswith("0"):
        raise BadId(f"not an arXiv identifier: {_short(original)} (versions start at v1)")
    return int(raw)


def parse_id(text: str) -> ArxivId:
    """Parse an arXiv identifier in any of its usual spellings; raise BadId if it is not one."""
    if not isinstance(text, str):
        raise BadId(f"not an arXiv identifier: {type(text).__name__}")
    if len(text) > _MAX_INPUT:
        raise BadId("not an arXiv identifier: too long")
    text = text.strip()  # surrounding whitespace (including newlines) is fine
    if _CONTROL_RE.search(text):
        raise BadId("not an arXiv identifier: contains control characters")
    if ".." in text:
        raise BadId(f"not an arXiv identifier: {_short(text)}")
    s = _strip_decorations(text)
    if not s:
        raise BadId("not an arXiv identifier: empty")

    m = _NEW_RE.match(s)
    if m:
        yymm = int(m["yy"] + m["mm"])
        month = int(m["mm"])
        if not 1 <= month <= 12:
            raise BadId(f"not an arXiv identifier: {_short(text)} (month {m['mm']} is invalid)")
        if yymm < 704:
            raise BadId(
                f"not an arXiv identifier: {_short(text)} (new-style ids start in April 2007)"
            )
        number = int(m["num"])
        if number == 0:
            raise BadId(f"not an arXiv identifier: {_short(text)} (sequence number is 0)")
        width = 5 if yymm >= 1501 else 4
        if len(str(number)) > width:
            raise BadId(
                f"not an arXiv identifier: {_short(text)} "
                f"(ids of {m['yy']}{m['mm']} have {width}-digit numbers)"
            )
        return ArxivId(f"{m['yy']}{m['mm']}.{number:0{width}d}", _version(m["v"], text))

    m = _OLD_RE.match(s)
    if m:
        archive = m["archive"].lower()
        archive = _UNHYPHENATED.get(archive, archive)
        if archive not in _OLD_ARCHIVES:
            raise BadId(f"not an arXiv identifier: {_short(text)} (unknown archive {archive!r})")
        yy, month = int(m["yy"]), int(m["mm"])
        if not 1 <= month <= 12:
            raise BadId(f"not an arXiv identifier: {_short(text)} (month {m['mm']} is invalid)")
        # Old-style ids run from 9108 (August 1991) to 0703 (March 2007).
        in_range = (yy > 91 or (yy == 91 and month >= 8)) or (yy < 7 or (yy == 7 and month <= 3))
        if not in_range:
            raise BadId(
                f"not an arXiv identifier: {_short(text)} (old-style ids run 1991-08 to 2007-03)"
            )
        if int(m["num"]) == 0:
            raise BadId(f"not an arXiv identifier: {_short(text)} (sequence number is 0)")
        return ArxivId(f"{archive}/{m['yy']}{m['mm']}{m['num']}", _version(m["v"], text))

    raise BadId(f"not an arXiv identifier: {_short(text)}")


def looks_like_id(text: str) -> bool:
    """True if ``text`` has the shape of an arXiv id (valid or not), e.g. to tell an id list from
    a category spec. ``parse_id`` then decides whether it is a valid one."""
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        return False
    s = _strip_decorations(text)
    return bool(_NEW_SHAPE_RE.match(s) or _OLD_SHAPE_RE.match(s))


def canonical_str(a: ArxivId) -> str:
    """``2401.00001`` or ``2401.00001v2``."""
    return a.id if a.version is None else f"{a.id}v{a.version}"


def id_ranges_of_year(year: int) -> list[tuple[str, str]]:
    """Half-open ranges ``[low, high)`` holding the canonical ids arXiv issued in ``year`` (an
    id's YYMM is its month): ``0701.`` to ``0713`` for new-style ids (2007 on), one per archive
    for old-style ones (1991 to 2007). Compared as strings, so a primary-key index answers each
    with a seek."""
    yy = f"{year % 100:02d}"
    ranges = []
    if 2007 <= year <= 2099:
        ranges.append((f"{yy}01.", f"{yy}13"))
    if 1991 <= year <= 2007:
        ranges += [(f"{a}/{yy}01", f"{a}/{yy}13") for a in sorted(_OLD_ARCHIVES)]
    return ranges


# --- keys of papers that are not arXiv's ------------------------------------------------------
# A paper from a venue is keyed ``<venue's own id>@<VENUE>``, papers.cool's form:
# ``2024.naacl-long.431@ACL``, ``smith23a@v202@PMLR`` (the local id may itself hold an ``@``; the
# venue is what follows the last one). arXiv ids never contain ``@``, so the two never collide and
# arXiv ids stay bare. parse_id above is not involved.

VENUE_KEY_MAX = 40  # fits papers.id (models.ID_LEN)
_VENUE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")
_LOCAL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-@]*$")


@dataclass(frozen=True)
class VenueKey:
    local: str  # the venue's own id: "2024.naacl-long.431", "smith23a@v202"
    venue: str  # upper case: "ACL", "PMLR"

    @property
    def key(self) -> str:
        return f"{self.local}@{self.venue}"


def is_venue_key(text: str) -> bool:
    """True for anything in the ``local@VENUE`` form (valid or not); arXiv ids have no ``@``."""
    return isinstance(text, str) and "@" in text


def parse_venue_key(text: str) -> VenueKey:
    """Split and check ``<local>@<VENUE>``; raise BadId when it is not such a key."""
    if not isinstance(text, str) or len(text.strip()) > VENUE_KEY_MAX:
        raise BadId("not a paper key: too long" if isinstance(text, str) else "not a paper key")
    s = text.strip()
    local, sep, venue = s.rpartition("@")
    if not sep or not _VENUE_RE.match(venue) or not _LOCAL_RE.match(local) or ".." in local:
        raise BadId(f"not a paper key: {_short(s)} (expected <venue id>@<VENUE>)")
    if local.endswith("@"):
        raise BadId(f"not a paper key: {_short(s)}")
    return VenueKey(local, venue)
