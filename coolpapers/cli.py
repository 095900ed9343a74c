"""``coolpapers`` subcommands. Thin: parse arguments, build things from settings, call the work."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from coolpapers import import_cli, ingest, schema, users_cli
from coolpapers.config import Settings, load_settings, settings_table
from coolpapers.db import make_engine, make_sessionmaker
from coolpapers.errors import BadInput, ConfigError, CoolpapersError

log = logging.getLogger("coolpapers")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long a web worker may take to answer uvicorn's liveness ping before it is killed and
# replaced. uvicorn's 5 s: on 2 busy cores a worker still importing the app missed it and was
# restarted, twice, while the parent's scheduler built the search index.
WORKER_HEALTHCHECK_S = 60


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coolpapers", description="A self-hosted papers.cool")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="web server (+ scheduler unless --no-scheduler)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-scheduler", action="store_true", help="web only")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        metavar="N",
        help="web processes sharing the port, the database and the search index (default 1); "
        "the scheduler runs once, in the parent process",
    )

    sub.add_parser("worker", help="scheduler (arXiv polling), no web")

    ing = sub.add_parser("ingest", help="one ingest run now")
    ing.add_argument("--categories", help="comma list of categories/archives (default: setting)")
    ing.add_argument("--ids", help="comma list of arXiv ids, fetched through the API")
    ing.add_argument("--feed-file", nargs="+", type=Path, metavar="PATH", help="saved RSS files")

    faq = sub.add_parser("faq", help="write a paper's FAQ now, showing it as it is written")
    faq.add_argument("paper_id", help="arXiv id, e.g. 2401.00001")
    faq.add_argument("--lang", default="zh", choices=("zh", "en"))
    faq.add_argument("--regenerate", action="store_true", help="write it again even if done")

    search = sub.add_parser("search", help="the search index")
    search_sub = search.add_subparsers(dest="search_command", required=True)
    search_sub.add_parser("reindex", help="rebuild the index from the database")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="run migrations to head")
    backup = db_sub.add_parser("backup", help="a consistent copy of the database while serving")
    backup.add_argument("path", type=Path, help="where the copy goes (a new file)")

    users_cli.add_parser(sub)
    import_cli.add_parser(sub)

    table = sub.add_parser("settings-table", help="print the README's settings table")
    table.add_argument("--update", type=Path, metavar="README", help="rewrite it in this file")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def _not_alembic_boilerplate(record: logging.LogRecord) -> bool:
    """alembic names its dialect and DDL mode each time a command opens the database ("Context
    impl SQLiteImpl.", "Will assume non-transactional DDL."): two lines before every command's
    own output that tell a user nothing. Its "Running upgrade ..." lines stay."""
    return not record.getMessage().startswith(("Context impl ", "Will assume "))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    alembic_log = logging.getLogger("alembic.runtime.migration")
    if _not_alembic_boilerplate not in alembic_log.filters:
        alembic_log.addFilter(_not_alembic_boilerplate)
    if args.command == "settings-table":
        return _settings_table(args.update)
    try:
        settings = load_settings()
        return _dispatch(args, settings)
    except CoolpapersError as exc:
        print(f"coolpapers: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, (BadInput, ConfigError)) else EXIT_FAILED
    except SQLAlchemyError as exc:  # disk full, server gone…: one line, no SQL, no parameters
        print(f"coolpapers: {ingest.describe_db_error(exc)}", file=sys.stderr)
        return EXIT_FAILED


README_START, README_END = "<!-- settings:start -->\n", "<!-- settings:end -->"


def _settings_table(readme: Path | None) -> int:
    if readme is None:
        print(settings_table(), end="")
        return EXIT_OK
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        print(f"coolpapers: {readme} has no settings table markers", file=sys.stderr)
        return EXIT_USAGE
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    readme.write_text(head + README_START + settings_table() + README_END + tail)
    return EXIT_OK


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings)
    try:
        return _command(args, settings, engine)
    finally:
        engine.dispose()


def _command(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    if args.command == "db" and args.db_command == "backup":
        from coolpapers.backup import backup

        print(backup(engine, args.path))
        return EXIT_OK
    if args.command == "db":
        schema.upgrade(engine)
        print("database at", schema.head_revision())
        return EXIT_OK
    if args.command == "import":
        return _import(args, settings, engine)
    if args.command == "ingest":
        return _ingest(args, settings, engine)
    if args.command == "search":
        schema.upgrade(engine)
        return _reindex(settings, make_sessionmaker(engine))
    if args.command == "faq":
        from coolpapers.faq_cli import run_faq

        schema.upgrade(engine)
        return run_faq(
            settings, make_sessionmaker(engine), args.paper_id, args.lang, args.regenerate
        )
    if args.command == "users":
        schema.upgrade(engine)
        return users_cli.run(args, make_sessionmaker(engine))
    if not schema.is_current(engine):
        print(
            "coolpapers: the database is not migrated; run `coolpapers db upgrade`", file=sys.stderr
        )
        return EXIT_FAILED
    if args.command == "serve":
        if args.workers > 1:
            return _serve_workers(
                settings, engine, args.host, args.port, args.workers, not args.no_scheduler
            )
        return _serve(settings, args.host, args.port, scheduler=not args.no_scheduler)
    if args.command == "worker":
        return _worker(settings, engine)
    raise AssertionError(args.command)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl+C and SIGTERM set ``stop`` (the work then ends within seconds) instead of raising
    KeyboardInterrupt in whatever the main thread is doing; a second one says so, quietly."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            print("coolpapers: still stopping…", file=sys.stderr, flush=True)
            return
        print(f"coolpapers: {signal.Signals(signum).name}, stopping", file=sys.stderr, flush=True)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _exit_now(code: int) -> None:
    """A job is stuck past the stop's bound: exit without joining its (non-daemon) thread."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _worker(settings: Settings, engine: Engine) -> int:
    from coolpapers.scheduler import Background

    pipeline = ingest.Pipeline.open(settings, make_sessionmaker(engine))
    background = Background(pipeline, behind_readers=True)
    with _stop_on_signals(pipeline.stop):
        background.start()
        log.info("worker started; Ctrl+C stops it")
        while not pipeline.stop.wait(1.0):
            pass
        in_time = background.stop()
    pipeline.close()
    if not in_time:
        _exit_now(EXIT_FAILED)
    return EXIT_OK


def _import(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    schema.upgrade(engine)
    pipeline = ingest.Pipeline.open(settings, make_sessionmaker(engine))
    try:
        with _stop_on_signals(pipeline.stop):
            return import_cli.run(args, settings, pipeline, pipeline.stop)
    finally:
        pipeline.close()


def _reindex(settings: Settings, factory: ingest.SessionFactory) -> int:
    from coolpapers.search import sync

    def bar(done: int, total: int) -> None:
        width = 40
        filled = width * done // total if total else width
        print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr)

    indexed = sync.rebuild(factory, settings.data_dir, progress=bar)
    print(f"\nsearch index rebuilt: {indexed} papers", file=sys.stderr)
    return EXIT_OK


def _serve(settings: Settings, host: str, port: int, *, scheduler: bool) -> int:
    import uvicorn

    from coolpapers.web import create_app

    class Server(uvicorn.Server):
        """uvicorn's server, told how we stop. Its own way re-raises the Ctrl+Cs it shut down
        for once the loop is ending, and on a second one skips the app's shutdown: either way
        the app's lifespan task is cancelled mid-wait and starlette logs that as a traceback."""

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await super().shutdown(sockets)
            # a second Ctrl+C before the app's shutdown began: connections were dropped, not
            # waited for, and the app is shut down all the same
            if self.force_exit and not self.lifespan.shutdown_event.is_set():
                await self.lifespan.shutdown()

    app = create_app(settings, scheduler=scheduler)
    # web.auth.TrustedProxy believes forwarded headers from TRUSTED_PROXIES only
    server = Server(uvicorn.Config(app, host=host, port=port, proxy_headers=False))
    server.run()
    if not server.started:  # uvicorn has logged why (the port is taken, the app failed to start)
        return EXIT_FAILED
    # The app's shutdown stopped the jobs; this is idempotent and bounds a stuck one.
    with _stop_on_signals(threading.Event()):
        background = getattr(app.state, "background", None)
        if background is not None and not background.stop():
            _exit_now(EXIT_FAILED)
    return EXIT_OK


def _serve_workers(
    settings: Settings, engine: Engine, host: str, port: int, workers: int, scheduler: bool
) -> int:
    """``workers`` uvicorn processes on one socket, each with its app from the environment
    (``web.workers``); the scheduler and FAQ worker, when on, in this parent process only:
    one of them per site, as with ``coolpapers worker``. SIGTERM or Ctrl+C stops the workers
    (each finishes its requests), then the jobs."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from coolpapers.scheduler import start_background

    config = uvicorn.Config(
        "coolpapers.web.workers:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # web.auth.TrustedProxy decides, as in _serve
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )
    socket_ = config.bind_socket()  # logs and exits when the port is taken
    background = start_background(settings, make_sessionmaker(engine)) if scheduler else None
    try:
        Multiprocess(config, sockets=[socket_]).run()
    finally:
        socket_.close()
        if background is not None:
            with _stop_on_signals(threading.Event()):
                if not background.stop():  # bounded; ends an ingest, frees its lease
                    _exit_now(EXIT_FAILED)
    return EXIT_OK


def _ingest(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    schema.upgrade(engine)
    factory = make_sessionmaker(engine)
    specs = (
        load_settings(arxiv_categories=args.categories).ingest_specs
        if args.categories
        else settings.ingest_specs
    )
    pipeline = ingest.Pipeline.open(settings, factory)
    try:
        ids = (
            [pipeline.arxiv.parse_id(t) for t in args.ids.split(",") if t.strip()]
            if args.ids
            else []
        )
        with _stop_on_signals(pipeline.stop):
            reports = _run_ingest(args, settings, pipeline, ids, specs)
    except ingest.LeaseHeld as exc:
        report = ingest.record_skip(factory, "cli", "ingest", str(exc))
        print(report.line())
        return EXIT_OK
    finally:
        pipeline.close()
    for report in reports:
        print(report.line())
    return EXIT_FAILED if any(r.failed for r in reports) else EXIT_OK


def _run_ingest(
    args: argparse.Namespace,
    settings: Settings,
    pipeline: ingest.Pipeline,
    ids: list[str],
    specs: list[str],
) -> list[ingest.RunReport]:
    """One run now: every feed asked for (not only the due ones), ids, or saved files."""
    if not args.feed_file and not ids:
        return ingest.ingest_due(pipeline, settings, specs=specs, every=True)
    with ingest.ingest_lease(pipeline.factory, settings.ingest_lease_s):
        if args.feed_file:
            reports = ingest.ingest_files(pipeline.factory, args.feed_file)
        else:
            reports = [ingest.fetch_papers(pipeline, pipeline.arxiv, ids)]
    indexed = ingest.sync_index(pipeline)  # skips if another process is indexing
    if indexed:
        print(f"search index: {indexed} papers indexed")
    return reports
