"""``coolpapers import kaggle PATH`` and ``coolpapers import oai --from DATE``: arXiv's past for a
new instance. Both resume where an interrupted run stopped, show a progress bar (rate, ETA) on
standard error and print a summary; bad records are counted and reported, never fatal."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from coolpapers import ingest
from coolpapers.config import Settings
from coolpapers.errors import BadInput
from coolpapers.ingest.imports import ImportProgress, ImportReport

EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = sub.add_parser("import", help="arXiv's history: the Kaggle snapshot or an OAI harvest")
    imp_sub = imp.add_subparsers(dest="import_command", required=True)
    kaggle = imp_sub.add_parser(
        "kaggle", help="the Kaggle arXiv snapshot (JSON lines; .gz, .bz2, .xz or .zip too)"
    )
    kaggle.add_argument("path", type=Path)
    kaggle.add_argument(
        "--restart", action="store_true", help="read the file from the start, not where it stopped"
    )
    oai = imp_sub.add_parser("oai", help="harvest arXiv's OAI-PMH metadata since a date")
    oai.add_argument("--from", dest="since", required=True, type=_day, metavar="YYYY-MM-DD")
    oai.add_argument("--until", type=_day, metavar="YYYY-MM-DD")
    oai.add_argument("--set", dest="set_spec", metavar="SET", help="e.g. cs, math, physics:hep-th")
    oai.add_argument(
        "--followed",
        action="store_true",
        help="keep only papers stored already or in COOLPAPERS_ARXIV_CATEGORIES (a set is a "
        "whole archive)",
    )
    oai.add_argument(
        "--restart", action="store_true", help="start over, not at the last resumption token"
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


@contextmanager
def _bar(unit: str) -> Iterator[ImportProgress]:
    """A rich progress bar on standard error; ``unit`` "bytes" shows sizes and a byte rate."""
    console = Console(stderr=True)
    columns: tuple[ProgressColumn, ...]
    if unit == "bytes":
        columns = (DownloadColumn(), TransferSpeedColumn())
    else:
        columns = (MofNCompleteColumn(), TextColumn("{task.fields[rate]}"))
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        *columns,
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("importing", total=None, rate="")

    def update(done: int, total: int | None) -> None:
        elapsed = progress.tasks[0].elapsed or 0.0
        rate = f"{done / elapsed:,.0f} {unit}/s" if elapsed > 0 and unit != "bytes" else ""
        progress.update(task, completed=done, total=total, rate=rate)

    with progress:
        yield update


def summary(report: ImportReport) -> str:
    """What an import did, as the lines the CLI prints."""
    rate = report.read / report.seconds if report.seconds > 0 else 0.0
    lines = [
        f"{report.name}: read {report.read:,} records in {report.seconds:.1f} s "
        f"({rate:,.0f}/s{', the search index included' if report.indexed else ''}); "
        f"stored {report.stored:,}, unchanged {report.unchanged:,}, bad {report.bad:,}",
    ]
    if report.deleted:
        lines.append(f"skipped {report.deleted:,} records arXiv marks deleted")
    if report.outside:
        lines.append(
            f"skipped {report.outside:,} records of papers not stored and outside the "
            "categories followed"
        )
    if report.queued:
        lines.append(
            f"queued {report.queued:,} papers for the arXiv API: a newer version whose "
            "number the harvest cannot know"
        )
    if report.done_before:
        lines.append("an earlier run went to its end: nothing to do (--restart does it again)")
    if report.resumed_from:
        lines.append(f"resumed after {report.resumed_from:,} records of an earlier run")
    if report.derived or report.not_derived:
        lines.append(
            f"day lists: {report.derived:,} announcements placed on their day by arXiv's "
            f"schedule, {report.not_derived:,} whose day cannot be known (left off the lists)"
        )
    lines.extend(f"  bad: {sample}" for sample in report.bad_samples)
    if report.bad > len(report.bad_samples):
        lines.append(f"  … and {report.bad - len(report.bad_samples):,} more bad records")
    if report.indexed:
        lines.append(f"search index: {report.indexed:,} papers indexed")
    if report.interrupted:
        lines.append("interrupted: run the same command again to resume")
    elif not report.finished:
        lines.append(
            "not finished: the input ended early (cut or corrupt, see above); "
            "run the same command again on a whole file to go on"
        )
    return "\n".join(lines)


def run(
    args: argparse.Namespace, settings: Settings, pipeline: ingest.Pipeline, stop: threading.Event
) -> int:
    if args.import_command == "kaggle":
        if not args.path.is_file():
            raise BadInput(f"no such file: {args.path}")
        with _bar("bytes") as progress:
            report = ingest.import_kaggle(
                pipeline, args.path, restart=args.restart, progress=progress, stop=stop
            )
    else:
        if args.until is not None and args.until < args.since:
            raise BadInput("--until is before --from")
        with _bar("records") as progress:
            report = ingest.harvest_oai(
                pipeline,
                args.since,
                until=args.until,
                set_spec=args.set_spec,
                restart=args.restart,
                categories=settings.ingested_categories if args.followed else None,
                progress=progress,
                stop=stop,
            )
    print(summary(report))
    sys.stdout.flush()
    return EXIT_OK if report.finished and not report.interrupted else EXIT_FAILED
