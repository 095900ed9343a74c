"""What the history imports (``import_kaggle``, ``harvest_oai``) report, and how they report
progress: shared by both and by the CLI that shows them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

# (done, total): bytes of the file for a Kaggle import, records for an OAI harvest (total None
# when the server does not say)
ImportProgress = Callable[[int, int | None], None]

BAD_SAMPLES = 10  # bad lines quoted in a report: the count says how many more there were


@dataclass
class ImportReport:
    name: str  # the checkpoint's name: "kaggle:<file>", "oai:<set>:<from>"
    read: int = 0  # records (lines) read by this run
    stored: int = 0  # papers inserted or updated
    unchanged: int = 0  # papers already stored as they are
    bad: int = 0  # records that could not be used (counted, never fatal)
    bad_samples: list[str] = field(default_factory=list)  # "line 12: no id", at most BAD_SAMPLES
    deleted: int = 0  # records the source marks deleted (OAI), skipped
    # records of papers not stored and in none of the categories asked for (OAI), skipped
    outside: int = 0
    queued: int = 0  # papers queued for the API to learn their exact version (OAI)
    resumed_from: int = 0  # records an earlier, interrupted run had already done
    done_before: bool = False  # an earlier run of the same source went to its end: nothing to do
    derived: int = 0  # listings placed on a day by arXiv's schedule
    not_derived: int = 0  # versions whose day cannot be known (calendar unknown, held paper)
    indexed: int = 0  # papers the search index took in at the end
    seconds: float = 0.0
    server_time: datetime | None = None  # the source's clock at this run's first page (OAI)
    interrupted: bool = False  # stopped (Ctrl+C, SIGTERM): resumable
    finished: bool = False  # the whole source was read

    def note_bad(self, where: str, reason: str) -> None:
        self.bad += 1
        if len(self.bad_samples) < BAD_SAMPLES:
            self.bad_samples.append(f"{where}: {reason}")
