"""arXiv's OAI-PMH: parse one ``ListRecords`` page in the ``arXiv`` metadata format.

Pure: bytes in, records out (no network, no database, no settings); ``ingest.oai`` fetches and
stores. The protocol and arXiv's formats are described in shared/reference/arxiv-data.md §4 and
pinned by tests/fixtures/arxiv/oai/.

What a page holds (:class:`OaiPage`): the usable records, the records that could not be used
(one short reason each: never fatal), the identifiers of deleted records, the resumption token
(None on the last page: no element, or an empty one as the current server sends), the list size
and cursor when the server says (only the old server did), and an OAI error
(``noRecordsMatch``, ``badResumptionToken``, ``badArgument``…) instead of records.

Versions: the ``arXiv`` format describes the latest version only, with ``<created>`` (the date
of v1) and ``<updated>`` (the date of the latest version, present only when there are several).
It never gives the version number, so a record carries ``proven_version``: the least number the
record proves (1 without ``<updated>``, which is then exact; 2 with it, a lower bound). Deciding
the number to store, against what is stored, is ``ingest.oai``'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from xml.etree.ElementTree import Element

from coolpapers.errors import BadId, ParseError
from coolpapers.identifiers import parse_id
from coolpapers.records import Author, PaperMeta
from coolpapers.sources.arxiv_parse import clean_inline, optional_raw, optional_text, xml_root

__all__ = [
    "METADATA_PREFIX",
    "OaiError",
    "OaiPage",
    "OaiRecord",
    "list_records_params",
    "parse_list_records",
    "resume_params",
]

METADATA_PREFIX = "arXiv"  # structured authors and affiliations, dates, licence (see above)

_OAI = "{http://www.openarchives.org/OAI/2.0/}"
_ARXIV = "{http://arxiv.org/OAI/arXiv/}"
_OAI_ID_PREFIX = "oai:arxiv.org:"
_REASON_MAX = 120  # characters of a bad record's reason


@dataclass(frozen=True)
class OaiRecord:
    """One usable record: the latest version's metadata and what the record says of versions."""

    meta: PaperMeta  # meta.version is proven_version
    created: date  # v1's date
    updated: date | None  # the latest version's date; None when v1 is the only version
    datestamp: date | None  # the record's last modification (what from/until filter on)

    @property
    def proven_version(self) -> int:
        return self.meta.version


@dataclass(frozen=True)
class OaiError:
    code: str  # "noRecordsMatch", "badResumptionToken", "badArgument", …
    message: str


@dataclass(frozen=True)
class OaiPage:
    records: tuple[OaiRecord, ...]
    malformed: tuple[str, ...]  # "oai:arXiv.org:1412.8323: no title", one per bad record
    deleted: tuple[str, ...]  # identifiers of records whose header says status="deleted"
    token: str | None  # the next page's resumption token; None: this was the last page
    complete_size: int | None  # completeListSize, when the server gives it
    cursor: int | None
    response_date: datetime | None
    error: OaiError | None = None

    @property
    def seen(self) -> int:
        """Records this page accounts for, used or not."""
        return len(self.records) + len(self.malformed) + len(self.deleted)


def list_records_params(
    since: date, until: date | None = None, set_spec: str | None = None
) -> dict[str, str]:
    """The first request of a harvest."""
    params = {"verb": "ListRecords", "metadataPrefix": METADATA_PREFIX, "from": since.isoformat()}
    if until is not None:
        params["until"] = until.isoformat()
    if set_spec:
        params["set"] = set_spec
    return params


def resume_params(token: str) -> dict[str, str]:
    """The next page: the protocol makes resumptionToken the only argument besides the verb."""
    return {"verb": "ListRecords", "resumptionToken": token}


# --- parsing ---------------------------------------------------------------------------------


class _BadRecord(Exception):
    """One record cannot be used; the message is its short reason."""


def _text(parent: Element, tag: str) -> str:
    return parent.findtext(tag) or ""


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise _BadRecord(f"bad {what} date {text.strip()[:30]!r}") from None


def _optional_day(text: str | None, what: str) -> date | None:
    return _day(text, what) if text is not None and text.strip() else None


def _int_attr(element: Element, name: str) -> int | None:
    value = (element.get(name) or "").strip()
    return int(value) if value.isdigit() else None


def _authors(metadata: Element) -> tuple[Author, ...]:
    authors: list[Author] = []
    for node in metadata.findall(f"{_ARXIV}authors/{_ARXIV}author"):
        # arXiv shows "Forenames Keyname Suffix": "Neal J. Evans II"
        parts = (clean_inline(node.findtext(f"{_ARXIV}{tag}")) for tag in ("forenames", "keyname"))
        name = " ".join(p for p in parts if p)
        suffix = clean_inline(node.findtext(f"{_ARXIV}suffix"))
        if suffix:
            name = f"{name} {suffix}"
        if not name:
            continue
        affiliations = tuple(
            a for a in (clean_inline(x.text) for x in node.findall(f"{_ARXIV}affiliation")) if a
        )
        authors.append(Author(name, affiliations))
    return tuple(authors)


def _record(record: Element, identifier: str) -> OaiRecord:
    header = record.find(f"{_OAI}header")
    assert header is not None  # the caller found the identifier in it
    metadata = record.find(f"{_OAI}metadata/{_ARXIV}arXiv")
    if metadata is None:
        raise _BadRecord("no arXiv-format metadata")
    raw_id = _text(metadata, f"{_ARXIV}id").strip() or identifier
    try:
        arxiv_id = parse_id(raw_id)
    except BadId as exc:
        raise _BadRecord(str(exc)) from None
    if identifier.lower().startswith(_OAI_ID_PREFIX):
        header_id = identifier[len(_OAI_ID_PREFIX) :]
        if header_id != raw_id and header_id != arxiv_id.id:
            raise _BadRecord(f"header names {header_id!r} but the metadata {raw_id!r}")
    title = clean_inline(metadata.findtext(f"{_ARXIV}title"))
    if not title:
        raise _BadRecord("no title")
    created = _day(_text(metadata, f"{_ARXIV}created"), "created")
    updated = _optional_day(metadata.findtext(f"{_ARXIV}updated"), "updated")
    categories = tuple(dict.fromkeys(_text(metadata, f"{_ARXIV}categories").split()))
    if not categories:
        raise _BadRecord("no categories")
    meta = PaperMeta(
        id=arxiv_id.id,
        version=1 if updated is None else 2,
        title=title,
        abstract=clean_inline(metadata.findtext(f"{_ARXIV}abstract")),
        authors=_authors(metadata),
        categories=categories,
        doi=optional_raw(metadata.findtext(f"{_ARXIV}doi")),
        journal_ref=optional_text(metadata.findtext(f"{_ARXIV}journal-ref")),
        comments=optional_text(metadata.findtext(f"{_ARXIV}comments")),
        license=optional_raw(metadata.findtext(f"{_ARXIV}license")),
    )
    datestamp = _optional_day(header.findtext(f"{_OAI}datestamp"), "datestamp")
    return OaiRecord(meta=meta, created=created, updated=updated, datestamp=datestamp)


def _response_date(root: Element) -> datetime | None:
    text = (root.findtext(f"{_OAI}responseDate") or "").strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


def parse_list_records(body: bytes) -> OaiPage:
    """Parse a ``ListRecords`` response (or the OAI error that answered it).

    Raises ParseError when the body is not an OAI-PMH document: an HTML error page, a cut
    (truncated) response, XML with a DTD.
    """
    root = xml_root(body, "an OAI-PMH response")
    if root.tag != f"{_OAI}OAI-PMH":
        raise ParseError(f"not an OAI-PMH response: root element is {root.tag[:60]!r}")
    response_date = _response_date(root)

    error = root.find(f"{_OAI}error")
    if error is not None:
        oai_error = OaiError((error.get("code") or "").strip(), _short(error.text or ""))
        return OaiPage((), (), (), None, None, None, response_date, oai_error)
    listing = root.find(f"{_OAI}ListRecords")
    if listing is None:
        raise ParseError("not a ListRecords response: no ListRecords element")

    records: list[OaiRecord] = []
    malformed: list[str] = []
    deleted: list[str] = []
    for index, record in enumerate(listing.findall(f"{_OAI}record"), start=1):
        header = record.find(f"{_OAI}header")
        identifier = (
            (header.findtext(f"{_OAI}identifier") or "").strip() if header is not None else ""
        )
        if header is None or not identifier:
            malformed.append(f"record {index}: no identifier")
            continue
        if header.get("status") == "deleted":
            deleted.append(identifier)
            continue
        try:
            records.append(_record(record, identifier))
        except _BadRecord as exc:
            malformed.append(f"{_short(identifier)}: {_short(str(exc))}")

    token_element = listing.find(f"{_OAI}resumptionToken")
    token: str | None = None
    complete_size = cursor = None
    if token_element is not None:
        token = (token_element.text or "").strip() or None
        complete_size = _int_attr(token_element, "completeListSize")
        cursor = _int_attr(token_element, "cursor")
    return OaiPage(
        records=tuple(records),
        malformed=tuple(malformed),
        deleted=tuple(deleted),
        token=token,
        complete_size=complete_size,
        cursor=cursor,
        response_date=response_date,
    )
