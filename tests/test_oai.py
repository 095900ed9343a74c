"""``coolpapers import oai``: arXiv's OAI-PMH harvest, against a fake endpoint on 127.0.0.1 that
replays the real recorded pages (tests/fixtures/arxiv/oai) and injects faults."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, scheduler, store
from coolpapers.cli import main
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.errors import BadInput, FetchError, ParseError, RateLimited
from coolpapers.import_cli import summary
from coolpapers.ingest.oai import checkpoint_name
from coolpapers.ingest.refresh import refresh_sets
from coolpapers.models import Paper, QueuedPaper
from coolpapers.records import Author, PaperMeta
from coolpapers.sources.oai import parse_list_records
from tests.fakes.oai_server import (
    HEP_EX,
    HEP_TH,
    OAI_DIR,
    FakeOai,
    Fault,
    oai_error,
    page_2015,
    recorded_503,
)
from tests.test_kaggle_import import analysed, analysed_last, statements

OAI_DC = OAI_DIR / "oai-listrecords-oai_dc-set-cs-from-2024-01-25-with-resumptiontoken.xml"
SINCE = date(2017, 12, 14)
PAGE_IDS = [
    ["1412.8323", "1507.07790", "1607.01710"],
    ["1706.05371", "1706.09418", "1707.00874"],
    ["1412.8544", "hep-th/9504118"],
]
ALL_IDS = [key for page in PAGE_IDS for key in page]


# -- the parser, on the real pages ---------------------------------------------------------------


def test_parse_arxiv_format_fields_exact() -> None:
    page = parse_list_records(HEP_TH.read_bytes())
    assert [r.meta.id for r in page.records] == PAGE_IDS[0]
    assert page.token is None and page.error is None and page.malformed == ()
    assert page.response_date == datetime(2017, 12, 14, 12, 56, 31, tzinfo=UTC)
    record = page.records[1]
    meta = record.meta
    assert (
        meta.title == "Relativistic quantum dynamics of vector bosons in an Aharonov-Bohm potential"
    )
    assert meta.authors == (Author("Luis B. Castro"), Author("Edilberto O. Silva"))
    assert meta.categories == ("hep-th", "math-ph", "math.MP", "quant-ph")
    assert meta.comments == "7 pages"
    assert meta.journal_ref == "J. Phys. A: Math. Theor. 51 (2018) 035201"
    assert meta.doi == "10.1088/1751-8121/aa9c53"
    assert meta.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert meta.abstract.startswith(
        "The Aharonov-Bohm (AB) problem for vector bosons by the Duffin"
    )
    assert meta.abstract.endswith("the conditions for the occurrence of bound states.")
    assert "spin-$1/2$ AB problem" in meta.abstract  # math left as written
    assert (record.created, record.updated) == (date(2015, 7, 28), date(2016, 3, 4))
    assert record.datestamp == date(2017, 12, 14)
    assert record.proven_version == 2  # <updated>: at least two versions, number unknown


def test_parse_decodes_tex_accents_as_the_other_sources_do() -> None:
    # the real page with arXiv's TeX spelling of an accented name and title word put in
    body = HEP_TH.read_bytes().replace(b"<keyname>Hoehn</keyname>", b'<keyname>H\\"ohn</keyname>')
    body = body.replace(b"Toolbox for", b'Toolbox f{\\"u}r')
    meta = parse_list_records(body).records[0].meta
    assert meta.authors == (Author("Philipp A Höhn"),)
    assert meta.title.startswith("Toolbox für reconstructing")


def test_parse_affiliations_single_version_and_old_ids() -> None:
    page = parse_list_records(page_2015())
    first, second = page.records
    assert first.meta.id == "1412.8544" and first.updated is None and first.proven_version == 1
    assert first.meta.authors == (
        Author("Sander Uijlen", ("Radboud Universiteit",)),
        Author("Bas Westerbaan", ("Radboud Universiteit",)),
    )
    assert first.meta.journal_ref == "EPTCS 172, 2014, pp. 154-164"
    assert first.meta.doi == "10.4204/EPTCS.172.11"
    assert second.meta.id == "hep-th/9504118"
    assert second.meta.license is None
    assert '"strength" of the bonds' in second.meta.abstract  # &quot; decoded


def test_parse_old_style_token_and_other_formats_are_bad_records() -> None:
    page = parse_list_records(OAI_DC.read_bytes())
    assert (page.token, page.cursor, page.complete_size) == ("6960524|1001", 0, 1162)
    assert page.records == ()
    assert len(page.malformed) == 5
    assert page.malformed[0] == "oai:arXiv.org:1303.2033: no arXiv-format metadata"


def test_parse_errors_deleted_and_broken_bodies() -> None:
    empty = parse_list_records(oai_error("noRecordsMatch", "nothing"))
    assert empty.error is not None and empty.error.code == "noRecordsMatch" and empty.seen == 0
    body = HEP_TH.read_bytes()
    deleted = body.replace(b"<header>", b'<header status="deleted">', 1)
    page = parse_list_records(deleted)
    assert page.deleted == ("oai:arXiv.org:1412.8323",)
    assert [r.meta.id for r in page.records] == PAGE_IDS[0][1:]
    broken = body.replace(b"<id>1507.07790</id>", b"<id>not an id</id>")
    broken = broken.replace(b"oai:arXiv.org:1507.07790", b"")
    page = parse_list_records(broken)
    assert page.malformed == ("record 2: no identifier",)
    assert len(page.records) == 2
    with pytest.raises(ParseError):
        parse_list_records(body[: len(body) // 2])  # a cut response
    with pytest.raises(ParseError):
        parse_list_records(recorded_503().data)  # arXiv's HTML 503 page


# -- the harvest ---------------------------------------------------------------------------------


@pytest.fixture
def fake_oai() -> Iterator[FakeOai]:
    with FakeOai() as fake:
        fake.serve_harvest([HEP_TH, HEP_EX, page_2015()])
        yield fake


@pytest.fixture
def oai_settings(settings: Settings, fake_oai: FakeOai) -> Settings:
    return settings.model_copy(update={"arxiv_oai_url": fake_oai.url})


@pytest.fixture
def pipeline(oai_settings: Settings, factory: sessionmaker[Session]) -> Iterator[ingest.Pipeline]:
    opened = ingest.Pipeline.open(oai_settings, factory)
    yield opened
    opened.close()


def _papers(factory: sessionmaker[Session]) -> dict[str, Paper]:
    with session_scope(factory) as s:
        return {p.id: p for p in s.scalars(select(Paper))}


def _queued(factory: sessionmaker[Session]) -> set[str]:
    with session_scope(factory) as s:
        return set(s.scalars(select(QueuedPaper.paper_id)))


def _tokens(fake: FakeOai) -> list[str | None]:
    return [r.query.get("resumptionToken", [None])[0] for r in fake.requests]


def test_harvest_follows_tokens_and_stores_fields_exact(
    pipeline: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    seen: list[tuple[int, int | None]] = []
    with statements(factory) as sent:
        report = ingest.harvest_oai(
            pipeline, SINCE, set_spec="physics:hep-th", progress=lambda d, t: seen.append((d, t))
        )
    assert report.finished and not report.interrupted
    assert (report.read, report.stored, report.bad, report.deleted) == (8, 8, 0, 0)
    assert report.not_derived == 8  # a <created> date has no time: no day can be derived
    assert report.indexed == 8  # the search index synced at the end
    assert analysed(factory)  # and the database analysed, as after an import
    assert analysed_last(sent)  # after the index's keywords rewrote the rows
    assert seen == [(3, None), (6, None), (8, None)]  # the new server gives no list size
    first, *rest = fake_oai.requests
    assert first.query == {
        "verb": ["ListRecords"],
        "metadataPrefix": ["arXiv"],
        "from": ["2017-12-14"],
        "set": ["physics:hep-th"],
    }
    assert all(set(r.query) == {"verb", "resumptionToken"} for r in rest)
    assert fake_oai.pages_served == [0, 1, 2]
    assert fake_oai.max_concurrent == 1

    papers = _papers(factory)
    assert sorted(papers) == sorted(ALL_IDS)
    vector = papers["1507.07790"]
    assert vector.title == (
        "Relativistic quantum dynamics of vector bosons in an Aharonov-Bohm potential"
    )
    assert vector.authors == [
        {"name": "Luis B. Castro", "affiliations": []},
        {"name": "Edilberto O. Silva", "affiliations": []},
    ]
    assert vector.categories == ["hep-th", "math-ph", "quant-ph"]  # math.MP is math-ph's alias
    assert vector.primary_category == "hep-th"
    assert vector.doi == "10.1088/1751-8121/aa9c53"
    assert vector.journal_ref == "J. Phys. A: Math. Theor. 51 (2018) 035201"
    assert vector.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert vector.comments == "7 pages"
    assert vector.version == 2  # <updated>: at least v2, queued for the exact number
    ks = papers["1412.8544"]
    assert ks.version == 1
    assert ks.authors[0] == {"name": "Sander Uijlen", "affiliations": ["Radboud Universiteit"]}
    assert ks.categories == ["cs.DM"]
    assert papers["hep-th/9504118"].version == 1
    # the six with <updated> wait for the API to tell their exact version; the two v1 do not
    assert _queued(factory) == set(PAGE_IDS[0] + PAGE_IDS[1])
    assert report.queued == 6
    with session_scope(factory) as s:
        checkpoint = store.get_checkpoint(s, report.name)
    assert report.name == "oai:physics:hep-th:2017-12-14:open"
    assert checkpoint is not None and checkpoint.finished and checkpoint.done == 8


def test_old_style_tokens_give_the_list_size_to_the_progress(
    oai_settings: Settings, factory: sessionmaker[Session]
) -> None:
    with FakeOai(token_style="old") as fake:
        fake.serve_harvest([HEP_TH, HEP_EX, page_2015()])
        opened = ingest.Pipeline.open(
            oai_settings.model_copy(update={"arxiv_oai_url": fake.url}), factory
        )
        seen: list[tuple[int, int | None]] = []
        try:
            report = ingest.harvest_oai(opened, SINCE, progress=lambda d, t: seen.append((d, t)))
        finally:
            opened.close()
        tokens = [r.query.get("resumptionToken", [None])[0] for r in fake.requests]
    assert report.finished and report.read == 8
    assert seen == [(3, 8), (6, 8), (8, 8)]
    assert tokens[1] is not None and "|" in tokens[1]  # "6960525|4", as the old server's


def test_another_ingest_holding_the_lease_stops_the_harvest(
    pipeline: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    with store.hold_lease(factory, ingest.INGEST_LEASE, 60), pytest.raises(ingest.LeaseHeld):
        ingest.harvest_oai(pipeline, SINCE)
    assert fake_oai.requests == []
    assert ingest.harvest_oai(pipeline, SINCE).finished  # released: the next run goes


def test_rerun_is_idempotent_and_an_open_harvest_starts_a_fresh_pass(
    pipeline: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    ingest.harvest_oai(pipeline, SINCE)
    before = _papers(factory)
    fake_oai.clear_requests()
    again = ingest.harvest_oai(pipeline, SINCE)
    assert fake_oai.pages_served == [0, 1, 2]  # no until: a finished harvest runs again
    assert (again.read, again.stored, again.unchanged) == (8, 0, 8)
    after = _papers(factory)
    assert {k: p.modified_at for k, p in after.items()} == {
        k: p.modified_at for k, p in before.items()
    }
    assert {k: p.version for k, p in after.items()} == {k: p.version for k, p in before.items()}


def test_a_finished_bounded_harvest_is_done(pipeline: ingest.Pipeline, fake_oai: FakeOai) -> None:
    until = date(2017, 12, 15)
    assert ingest.harvest_oai(pipeline, SINCE, until=until).finished
    fake_oai.clear_requests()
    report = ingest.harvest_oai(pipeline, SINCE, until=until)
    assert report.finished and report.done_before and report.read == 0
    assert "nothing to do (--restart does it again)" in summary(report)
    assert fake_oai.requests == []
    restarted = ingest.harvest_oai(pipeline, SINCE, until=until, restart=True)
    assert restarted.read == 8 and fake_oai.requests[0].query["until"] == ["2017-12-15"]


def test_503_retry_after_is_obeyed(
    pipeline: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    fake_oai.script(1, [recorded_503(retry_after="1")])
    report = ingest.harvest_oai(pipeline, SINCE)
    assert report.finished and report.read == 8
    requests = fake_oai.requests
    assert [r.status for r in requests] == [200, 503, 200, 200]
    refused, retried = requests[1], requests[2]
    assert retried.query == refused.query  # the same page asked again
    # the server's own clock: the retry came no earlier than Retry-After after the 503
    assert retried.start - refused.start >= 1.0
    assert sorted(_papers(factory)) == sorted(ALL_IDS)


def test_a_cut_page_is_retried(
    pipeline: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    # http.py retries a transport failure after its backoff (5 s): slow, but no timing decides
    fake_oai.script(1, [Fault.truncate(400)])
    report = ingest.harvest_oai(pipeline, SINCE)
    assert report.finished and report.read == 8
    assert [r.fault for r in fake_oai.requests] == [None, "truncate", None, None]
    assert sorted(_papers(factory)) == sorted(ALL_IDS)


def test_a_cut_page_fails_cleanly_and_the_rerun_resumes_at_the_last_token(
    oai_settings: Settings, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    once = ingest.Pipeline.open(oai_settings.model_copy(update={"fetch_max_attempts": 1}), factory)
    try:
        fake_oai.script(1, [Fault.truncate(400)])
        with pytest.raises(FetchError):
            ingest.harvest_oai(once, SINCE)
        assert sorted(_papers(factory)) == sorted(PAGE_IDS[0])  # page 1 kept, nothing of 2
        with session_scope(factory) as s:
            checkpoint = store.get_checkpoint(s, checkpoint_name(SINCE, None, None))
        assert checkpoint is not None and not checkpoint.finished and checkpoint.done == 3
        token = _tokens(fake_oai)[1]
        assert token is not None and checkpoint.position == f"token:{token}"
        fake_oai.clear_requests()
        report = ingest.harvest_oai(once, SINCE)
    finally:
        once.close()
    assert report.finished and report.resumed_from == 3 and report.read == 5
    assert _tokens(fake_oai)[0] == token  # resumed at the last good token
    assert fake_oai.pages_served == [1, 2]
    with session_scope(factory) as s:
        assert s.scalar(select(func.count()).select_from(Paper)) == 8


def test_a_rerun_waits_out_the_hold_an_earlier_503_left(
    oai_settings: Settings, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    once = ingest.Pipeline.open(oai_settings.model_copy(update={"fetch_max_attempts": 1}), factory)
    try:
        fake_oai.script(1, [recorded_503(retry_after="1")])
        with pytest.raises(RateLimited):
            ingest.harvest_oai(once, SINCE)  # no retries left: the run ends, the hold stays
        report = ingest.harvest_oai(once, SINCE)
    finally:
        once.close()
    assert report.finished and report.resumed_from == 3
    refused, *after = fake_oai.requests[1:]
    assert refused.status == 503 and [r.status for r in after] == [200, 200]
    # nothing was sent to the held host before its Retry-After ended (the server's clock)
    assert after[0].start - refused.start >= 1.0
    assert sorted(_papers(factory)) == sorted(ALL_IDS)


def test_a_stop_ends_a_retry_after_wait(
    pipeline: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    fake_oai.script(1, [recorded_503(retry_after="30")])
    stop = threading.Event()

    def stop_after_the_503() -> None:
        while not any(r.status == 503 for r in fake_oai.requests):
            if stop.wait(0.01):
                return
        stop.set()

    watcher = threading.Thread(target=stop_after_the_503)
    watcher.start()
    try:
        report = ingest.harvest_oai(pipeline, SINCE, stop=stop)
    finally:
        stop.set()
        watcher.join()
    assert report.interrupted and report.read == 3
    # the harvest left during http.py's 30 s sleep: the page was not asked for again
    assert [r.status for r in fake_oai.requests] == [200, 503]
    with session_scope(factory) as s:
        checkpoint = store.get_checkpoint(s, report.name)
    assert checkpoint is not None and checkpoint.done == 3 and not checkpoint.finished


def test_kill_and_resume_fetches_only_the_remaining_pages(
    pipeline: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    stop = threading.Event()
    report = ingest.harvest_oai(pipeline, SINCE, progress=lambda d, t: stop.set(), stop=stop)
    assert report.interrupted and not report.finished and report.read == 3
    assert fake_oai.pages_served == [0]
    fake_oai.clear_requests()
    seen: list[int] = []
    resumed = ingest.harvest_oai(pipeline, SINCE, progress=lambda d, t: seen.append(d))
    assert resumed.finished and resumed.resumed_from == 3 and resumed.read == 5
    assert fake_oai.pages_served == [1, 2]
    assert all(t is not None for t in _tokens(fake_oai))
    assert seen == [6, 8]
    assert sorted(_papers(factory)) == sorted(ALL_IDS)


def test_an_expired_token_restarts_from_the_start(
    pipeline: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    stop = threading.Event()
    ingest.harvest_oai(pipeline, SINCE, progress=lambda d, t: stop.set(), stop=stop)
    fake_oai.expire_tokens()  # the next day
    fake_oai.clear_requests()
    report = ingest.harvest_oai(pipeline, SINCE)
    assert report.finished and report.read == 8
    assert [r.status for r in fake_oai.requests] == [200, 200, 200, 200]
    assert _tokens(fake_oai)[0] is not None and _tokens(fake_oai)[1] is None  # bad, then start
    assert fake_oai.pages_served == [0, 1, 2]
    with session_scope(factory) as s:
        assert s.scalar(select(func.count()).select_from(Paper)) == 8


def test_no_records_match_is_a_clean_empty_harvest(
    pipeline: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    fake_oai.serve_error("noRecordsMatch", "No records match the request")
    report = ingest.harvest_oai(pipeline, date(2030, 1, 1), set_spec="cs")
    assert report.finished and report.read == 0 and not report.interrupted
    assert _papers(factory) == {}


def test_arxiv_refusing_the_arguments_is_bad_input(
    pipeline: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    fake_oai.serve_error("badArgument", "unknown set cs:nope")
    with pytest.raises(BadInput, match="badArgument: unknown set cs:nope"):
        ingest.harvest_oai(pipeline, SINCE, set_spec="cs:nope")
    with session_scope(factory) as s:
        assert store.get_checkpoint(s, checkpoint_name(SINCE, None, "cs:nope")) is None


def test_bad_and_deleted_records_are_counted_never_fatal(
    pipeline: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    body = HEP_TH.read_bytes().replace(b"<header>", b'<header status="deleted">', 1)
    body = body.replace(b"<created>2015-07-28</created>", b"<created>July 2015</created>")
    fake_oai.serve_harvest([body, HEP_EX])
    report = ingest.harvest_oai(pipeline, SINCE)
    assert report.finished and report.read == 6
    assert (report.stored, report.bad, report.deleted) == (4, 1, 1)
    assert report.bad_samples == ["record: oai:arXiv.org:1507.07790: bad created date 'July 2015'"]
    assert sorted(_papers(factory)) == sorted(["1607.01710", *PAGE_IDS[1]])


def _store(factory: sessionmaker[Session], meta: PaperMeta) -> None:
    with session_scope(factory, write=True) as s:
        ingest.store_papers(s, [meta])


def _stored_meta(key: str, version: int, updated: datetime | None) -> PaperMeta:
    return PaperMeta(
        id=key,
        version=version,
        title="an older title",
        abstract="an older abstract",
        authors=(Author("Someone"),),
        categories=("hep-th",),
        published=datetime(2014, 12, 29, 12, 0, tzinfo=UTC) if updated else None,
        updated=updated,
    )


def test_versions_against_what_is_stored(
    pipeline: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    fake_oai.serve_harvest([HEP_TH])
    # 1607.01710's record says updated 2016-10-13: the stored v2 of that day is the latest
    _store(factory, _stored_meta("1607.01710", 2, datetime(2016, 10, 13, 15, 0, tzinfo=UTC)))
    # 1507.07790's record says updated 2016-03-04: a later version than the stored v3 of 2015
    _store(factory, _stored_meta("1507.07790", 3, datetime(2015, 9, 1, 10, 0, tzinfo=UTC)))
    # 1412.8323's record (updated 2017-12-13) is older than the stored v5 of 2018
    _store(factory, _stored_meta("1412.8323", 5, datetime(2018, 1, 2, 10, 0, tzinfo=UTC)))
    report = ingest.harvest_oai(pipeline, SINCE)
    assert (report.stored, report.unchanged, report.queued) == (2, 1, 1)
    papers = _papers(factory)
    brane = papers["1607.01710"]
    assert brane.version == 2  # proven the latest: kept, not queued
    assert brane.doi == "10.1002/andp.201700188"  # the DOI arrived after the fact
    assert brane.title.startswith("Refinements of the Weyl pure geometrical thick branes")
    assert papers["1507.07790"].version == 4  # at least one more than the stored v3
    assert papers["1412.8323"].version == 5 and papers["1412.8323"].title == "an older title"
    assert _queued(factory) == {"1507.07790"}


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture
def env(oai_settings: Settings, engine: object, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in oai_settings.model_dump().items():
        if value is not None:
            monkeypatch.setenv(f"COOLPAPERS_{name.upper()}", str(value))
    return oai_settings


def test_cli_import_oai(
    env: Settings, fake_oai: FakeOai, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_oai.serve_harvest([HEP_TH])
    assert env.allow_private_networks
    code = main(["import", "oai", "--from", "2017-12-14", "--set", "physics:hep-th"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "oai:physics:hep-th:2017-12-14:open: read 3 records" in out
    assert "stored 3" in out and "queued 3 papers" in out
    assert fake_oai.requests[0].query["set"] == ["physics:hep-th"]


@pytest.mark.parametrize("set_spec", ["cs AI", "cs/../x", "x" * 200, ""])
def test_cli_bad_set_is_a_usage_error(
    set_spec: str, env: Settings, fake_oai: FakeOai, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "oai", "--from", "2017-12-14", "--set", set_spec]) == 2
    assert "not an OAI set name" in capsys.readouterr().err
    assert fake_oai.requests == []


@pytest.mark.parametrize("since", ["2017-13-01", "yesterday"])
def test_cli_bad_from_is_a_usage_error(
    since: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["import", "oai", "--from", since])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "not a date (YYYY-MM-DD)" in err and "Traceback" not in err


# -- the daily refresh (ingest.refresh_metadata, the scheduler's job) ----------------------------


@pytest.mark.parametrize(
    ("categories", "sets"),
    [
        ("all", [None]),
        ("cs.LG", ["cs"]),
        ("cs.AI,cs.CL,stat.ML,cs.LG", ["cs", "stat"]),  # one harvest per archive
        ("cs", ["cs"]),
        ("hep-th", ["physics:hep-th"]),  # arXiv's legacy names: physics archives by group
        ("astro-ph.CO,physics.optics,math.NA", ["physics:astro-ph", "physics:physics", "math"]),
        ("q-bio.NC,eess.SP,econ.EM,q-fin.ST", ["q-bio", "eess", "econ", "q-fin"]),
    ],
)
def test_refresh_sets_cover_the_ingested_categories(
    categories: str, sets: list[str | None]
) -> None:
    assert refresh_sets(categories) == sets


def _refresh_checkpoint(factory: sessionmaker[Session], name: str) -> store.Checkpoint | None:
    with session_scope(factory) as s:
        return store.get_checkpoint(s, name)


@pytest.fixture
def followed(oai_settings: Settings, factory: sessionmaker[Session]) -> Iterator[ingest.Pipeline]:
    """A pipeline of an instance that ingests cs.DM (one paper of the recorded pages) and
    holds an older row of a hep-th paper."""
    opened = ingest.Pipeline.open(
        oai_settings.model_copy(update={"arxiv_categories": "cs.DM"}), factory
    )
    _store(factory, _stored_meta("1607.01710", 2, datetime(2016, 10, 13, 15, 0, tzinfo=UTC)))
    yield opened
    opened.close()


def test_refresh_keeps_stored_papers_and_followed_categories_current_once_a_day(
    followed: ingest.Pipeline, fake_oai: FakeOai, factory: sessionmaker[Session]
) -> None:
    evening = datetime(2017, 12, 14, 20, 0, tzinfo=UTC)
    [report] = ingest.refresh_metadata(followed, now=evening)
    assert report.finished and report.read == 8
    # the stored hep-th paper gets its DOI; the cs.DM one is new; the other six are skipped
    assert (report.stored, report.outside, report.unchanged) == (2, 6, 0)
    papers = _papers(factory)
    assert sorted(papers) == ["1412.8544", "1607.01710"]
    assert papers["1607.01710"].doi == "10.1002/andp.201700188"
    first = fake_oai.requests[0].query
    assert (first["from"], first["set"]) == (["2017-12-13"], ["cs"])  # a first refresh: a day back
    assert "until" not in first
    checkpoint = _refresh_checkpoint(factory, "refresh:cs")
    assert checkpoint is not None and checkpoint.finished and checkpoint.position == "2017-12-14"
    assert _refresh_checkpoint(factory, report.name) is None  # the harvest's own: dropped
    assert not analysed(factory)  # a day's refresh leaves the statistics to the imports

    fake_oai.clear_requests()
    assert ingest.refresh_metadata(followed, now=evening) == []  # once a day
    assert fake_oai.requests == []

    # the next day, from the day the last one began; the recorded pages' server clock says
    # 2017-12-14 still, so that is the day this one began too (OAI-PMH: from the server's date)
    after_midnight = datetime(2017, 12, 15, 0, 30, tzinfo=UTC)
    [again] = ingest.refresh_metadata(followed, now=after_midnight)
    assert (again.stored, again.unchanged, again.outside) == (0, 2, 6)
    assert fake_oai.requests[0].query["from"] == ["2017-12-14"]
    checkpoint = _refresh_checkpoint(factory, "refresh:cs")
    assert checkpoint is not None and checkpoint.position == "2017-12-14"

    # days later, a server date days behind ours is a wrong clock: ours is taken
    fake_oai.clear_requests()
    assert len(ingest.refresh_metadata(followed, now=datetime(2017, 12, 20, 9, tzinfo=UTC))) == 1
    assert fake_oai.requests[0].query["from"] == ["2017-12-14"]
    checkpoint = _refresh_checkpoint(factory, "refresh:cs")
    assert checkpoint is not None and checkpoint.position == "2017-12-20"


def test_a_failed_refresh_resumes_at_its_last_token_from_the_same_day(
    oai_settings: Settings,
    fake_oai: FakeOai,
    factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    once = ingest.Pipeline.open(
        oai_settings.model_copy(update={"fetch_max_attempts": 1, "arxiv_categories": "cs.DM"}),
        factory,
    )
    now = datetime(2017, 12, 16, 9, 0, tzinfo=UTC)
    try:
        fake_oai.script(1, [Fault.truncate(400)])
        with pytest.raises(FetchError):
            ingest.refresh_metadata(once, now=now)
        started = _refresh_checkpoint(factory, "refresh:cs")
        assert started is not None and not started.finished
        assert started.position == "2017-12-15"
        assert fake_oai.requests[0].query["from"] == ["2017-12-15"]
        token = _tokens(fake_oai)[1]
        # a day later, failing again: the same harvest, from the day it first started (not a
        # day back from now), resumed at its last good token
        fake_oai.clear_requests()
        fake_oai.script(1, [Fault.truncate(400)])
        with pytest.raises(FetchError):
            ingest.refresh_metadata(once, now=now + timedelta(days=1))
        assert _tokens(fake_oai) == [token]
        fake_oai.clear_requests()
        [report] = ingest.refresh_metadata(once, now=now + timedelta(days=1))
        assert report.finished and report.resumed_from == 3
        assert _tokens(fake_oai)[0] == token  # resumed at the last good token
        assert sorted(_papers(factory)) == ["1412.8544"]

        # the scheduler's job (today's clock: due again): a failure is one log line
        fake_oai.script(1, [Fault.truncate(400)])
        with caplog.at_level(logging.ERROR, logger="coolpapers.scheduler"):
            assert scheduler.refresh_metadata(once) == []
    finally:
        once.close()
    assert "metadata refresh: transport error" in caplog.text


def test_refresh_waits_for_another_ingest_and_can_be_turned_off(
    pipeline: ingest.Pipeline,
    oai_settings: Settings,
    fake_oai: FakeOai,
    factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        store.hold_lease(factory, ingest.INGEST_LEASE, 60),
        caplog.at_level(logging.INFO, logger="coolpapers.scheduler"),
    ):
        assert scheduler.refresh_metadata(pipeline) == []
    assert "the metadata refresh waits" in caplog.text and fake_oai.requests == []

    job = scheduler.build_scheduler(pipeline).get_job(scheduler.REFRESH_JOB)
    assert job is not None and job.trigger.interval.total_seconds() == scheduler.REFRESH_EVERY_S
    # not at once: a start catches up the day's listing first
    assert job.next_run_time > datetime.now(UTC) + timedelta(seconds=scheduler.REFRESH_EVERY_S / 2)

    off = ingest.Pipeline.open(oai_settings.model_copy(update={"metadata_refresh": False}), factory)
    try:
        assert scheduler.build_scheduler(off).get_job(scheduler.REFRESH_JOB) is None
        assert ingest.refresh_metadata(off) == []
    finally:
        off.close()
    assert fake_oai.requests == []


@pytest.mark.parametrize(
    ("followed", "kept"),
    [
        ("cs.DM", ["1412.8544"]),
        ("astro-ph.CO", ["1707.00874"]),  # a cross-list counts (its primary is hep-ph)
        ("math-ph", ["1412.8323", "1507.07790"]),  # listed as math.MP too: its alias
    ],
)
def test_cli_followed_keeps_the_instances_categories(
    followed: str,
    kept: list[str],
    env: Settings,
    fake_oai: FakeOai,
    monkeypatch: pytest.MonkeyPatch,
    factory: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COOLPAPERS_ARXIV_CATEGORIES", followed)
    assert main(["import", "oai", "--from", "2017-12-14", "--followed"]) == 0
    out = capsys.readouterr().out
    assert f"stored {len(kept)}," in out
    skipped = 8 - len(kept)
    assert f"skipped {skipped} records of papers not stored and outside the categories" in out
    assert sorted(_papers(factory)) == kept
