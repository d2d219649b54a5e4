"""The inbox: files dropped into ``INSIDERS_INBOX_DIR`` are ingested with nobody at the keyboard.

A file is claimed by renaming it into ``processing/`` (one worker wins the rename), ingested as
``insiders ingest`` would (invoices already stored are skipped), then moved to ``done/``; a file
that cannot be read as transactions goes to ``rejected/`` with a ``.reason.txt`` beside it, and
the other files are still ingested. Hidden and partial files (``.``-prefixed, ``.part``,
``.tmp``) are left alone until their writer renames them.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from pipeline.errors import InsidersError
from settings import Settings
from store.transactions import BatchOutcome, ingest_file

log = logging.getLogger(__name__)

PROCESSING, DONE, REJECTED = "processing", "done", "rejected"
UNFINISHED_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")


@dataclass
class InboxReport:
    """What one pass over the inbox did."""

    ingested: list[BatchOutcome] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "ingested": [{"file": o.filename, "batch_id": o.batch_id, "accepted": o.n_accepted,
                          "already_loaded": o.n_already_loaded, "rejected_rows": o.n_rejected}
                         for o in self.ingested],
            "rejected_files": dict(self.rejected),
        }


def waiting_files(inbox: Path) -> list[Path]:
    """Files ready to ingest, oldest first (then by name)."""
    if not inbox.is_dir():
        return []
    ready = [p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".")
             and not p.name.endswith(UNFINISHED_SUFFIXES)]
    return sorted(ready, key=lambda p: (p.stat().st_mtime, p.name))


def ingest_inbox(engine: Engine, settings: Settings) -> InboxReport:
    """Ingest every waiting file of ``settings.inbox_dir`` (nothing when it is not set)."""
    report = InboxReport()
    if settings.inbox_dir is None:
        return report
    inbox = settings.inbox_dir
    for folder in (PROCESSING, DONE, REJECTED):
        (inbox / folder).mkdir(parents=True, exist_ok=True)
    for path in waiting_files(inbox):
        claimed = _claim(path, inbox / PROCESSING)
        if claimed is None:
            continue
        try:
            outcome = ingest_file(engine, claimed, profile=settings.profile,
                                  max_unit_price=settings.max_unit_price,
                                  max_quantity=settings.max_quantity)
        except InsidersError as exc:
            report.rejected[path.name] = str(exc)
            _move(claimed, inbox / REJECTED)
            (inbox / REJECTED / f"{claimed.name}.reason.txt").write_text(f"{exc}\n")
            log.warning("inbox: %s rejected: %s", path.name, exc)
            continue
        report.ingested.append(outcome)
        _move(claimed, inbox / DONE)
        log.info("inbox: %s ingested as batch %s (%s rows accepted)", path.name,
                 outcome.batch_id, outcome.n_accepted)
    return report


def _claim(path: Path, processing: Path) -> Path | None:
    target = processing / path.name
    try:
        path.rename(target)  # atomic on one file system: exactly one worker gets the file
    except FileNotFoundError:
        return None  # another worker claimed it first
    return target


def _move(path: Path, folder: Path) -> None:
    target = folder / path.name
    if target.exists():
        stem, suffix = path.stem, path.suffix
        n = 1
        while (folder / f"{stem}.{n}{suffix}").exists():
            n += 1
        target = folder / f"{stem}.{n}{suffix}"
    shutil.move(path, target)
