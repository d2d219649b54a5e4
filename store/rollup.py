"""The per-customer daily rollup (:mod:`pipeline.rollup`), kept in step with the transactions.

Ingest adds a batch's rollup in the transaction that stores its rows (:func:`add_batch`);
removing a batch takes its rollup away in the transaction that deletes them
(:func:`remove_batch`); :func:`rebuild` recomputes it all from the stored rows, batch by batch.
The rollup follows the cleaning profile runs use: the latest batch's (``rollup_state``); a
batch naming another profile rebuilds it with that one. ``rollup_batches`` lists the batches
the rollup holds, with what guest numbering needs of each: when it does not list every batch
(a database from before the rollup), the next ingest rebuilds it and features refuse it.

Guests are numbered over all batches (:func:`pipeline.rollup.guest_layout`): when a batch moves
the others' guest ids (the guest range reaches a real id, or a removed batch had guests before
another one's), the guests' rows are recomputed from the stored guest rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime

import pandas as pd
from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.clean import CleaningProfile, clean_transactions, load_profile, profile_from_dict
from pipeline.errors import ProfileError
from pipeline.rollup import (
    ROLLUP_COLUMNS,
    GuestLayout,
    GuestStats,
    PartialRollup,
    daily_rollup,
    guest_layout,
    partial_rollup,
    summed_stats,
)
from pipeline.rollup import guest_stats as frame_guest_stats
from store import rollup_merge
from store.bulk import insert_frame
from store.runs import utcnow
from store.schema import Base, TransactionBatch

Progress = Callable[[int, int, int], None]
"""Called after each batch a rebuild adds: (batches done, batches in all, rows read so far)."""

_KEY = ("customer_id", "day")


class CustomerDay(Base):
    """One customer's cleaned lines of one invoice day, summed (:mod:`pipeline.rollup`)."""

    __tablename__ = "customer_days"

    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    lines: Mapped[int] = mapped_column(Integer)
    purchase_lines: Mapped[int] = mapped_column(Integer)
    invoices: Mapped[int] = mapped_column(Integer)
    items: Mapped[int] = mapped_column(BigInteger)
    revenue_micro: Mapped[int] = mapped_column(BigInteger)
    return_invoices: Mapped[int] = mapped_column(Integer)
    returned_items: Mapped[int] = mapped_column(BigInteger)
    returns_micro: Mapped[int] = mapped_column(BigInteger)


class RollupBatch(Base):
    """A batch the rollup holds, with its :class:`pipeline.rollup.GuestStats`."""

    __tablename__ = "rollup_batches"

    batch_id: Mapped[int] = mapped_column(
        ForeignKey("transaction_batches.id", ondelete="CASCADE"), primary_key=True
    )
    guest_invoices: Mapped[int] = mapped_column(Integer)
    max_customer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    min_id_from_start: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RollupState(Base):
    """The profile the rollup was built with (one row); no definition: it could not be."""

    __tablename__ = "rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile: Mapped[str] = mapped_column(String(500))
    definition: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    guest_start: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclasses.dataclass(frozen=True)
class RebuildOutcome:
    profile: str
    n_batches: int
    n_rows: int
    n_days: int


def add_batch(connection: Connection, batch_id: int, rows: pd.DataFrame, profile: str) -> None:
    """Add batch ``batch_id``'s stored ``rows`` (line_no + canonical columns), ingested with
    ``profile``, to the rollup; called in the transaction that stores them."""
    batch = BatchRollup(connection, batch_id, profile)
    batch.store(batch.piece(rows))
    batch.finish()


class BatchRollup:
    """Batch ``batch_id``'s rollup, added piece by piece as ingest stores its rows:
    :meth:`piece` computes (no database), :meth:`store` keeps it (``store.rollup_merge``),
    :meth:`finish` numbers the guests and merges, in the transaction that stores the rows."""

    def __init__(self, connection: Connection, batch_id: int, profile: str) -> None:
        self.connection, self.batch_id, self.profile = connection, batch_id, profile
        self.rolled = _stats(connection)
        earlier = connection.execute(
            select(func.count()).select_from(TransactionBatch)
            .where(TransactionBatch.id != batch_id)
        ).scalar_one()
        if not self.rolled:
            _clear(connection)  # rows of a rollup whose batches were all removed at once
            if not earlier:
                _start(connection, profile, _load(profile), guest_start=None)
        state = _state(connection)
        self.rebuilds = state is None or state.profile != profile or earlier != len(self.rolled)
        self.cleaning = None if self.rebuilds else _definition(state)
        self.start = None if self.cleaning is None else self.cleaning.guest_id_start
        self.stats = GuestStats(batch_id, 0, None, None)
        if not self.rebuilds:
            rollup_merge.start(connection)

    def piece(self, rows: pd.DataFrame) -> PartialRollup | None:
        """The partial rollup of ``rows``, the next stored rows of the batch."""
        if self.rebuilds or rows.empty:
            return None
        self.stats = summed_stats(self.stats, frame_guest_stats(self.batch_id, rows, self.start))
        if self.cleaning is None:
            return PartialRollup.guests_only(rows)
        return partial_rollup(rows, self.cleaning)

    def store(self, piece: PartialRollup | None) -> None:
        if piece is not None:
            rollup_merge.add(self.connection, piece)

    def finish(self) -> None:
        if self.rebuilds:
            rebuild(self.connection, self.profile)
            return
        connection, cleaning = self.connection, self.cleaning
        # a guest invoice may be in several pieces: the merge counts it once
        guests = rollup_merge.guest_invoices(connection)
        stats = dataclasses.replace(self.stats, guest_invoices=guests)
        _insert_stats(connection, [stats])
        if cleaning is None:
            return
        old = guest_layout(self.start, self.rolled)
        new = guest_layout(self.start, [*self.rolled, stats])
        if old.total and new.start != old.start:
            _renumber_guests(connection, cleaning, old, new, exclude=self.batch_id)
        rollup_merge.merge(connection, new.first_id.get(self.batch_id),
                           cleaning.excluded_customers)
        _set_guest_start(connection, new.start)


def remove_batch(connection: Connection, batch_id: int) -> None:
    """Take batch ``batch_id`` out of the rollup; called before its rows are deleted."""
    rolled = _stats(connection)
    state = _state(connection)
    mine = [stats for stats in rolled if stats.batch_id == batch_id]
    connection.execute(delete(RollupBatch).where(RollupBatch.batch_id == batch_id))
    cleaning = None if state is None else _definition(state)
    if not mine or cleaning is None:
        return
    start = cleaning.guest_id_start
    old = guest_layout(start, rolled)
    rest = [stats for stats in rolled if stats.batch_id != batch_id]
    new = guest_layout(start, rest)
    rows = _batch_rows(connection, batch_id)
    _add(connection, _rollup(rows, cleaning, old.first_id.get(batch_id)), sign=-1)
    moved = [s for s in rest if new.first_id.get(s.batch_id) != old.first_id.get(s.batch_id)]
    if any(s.guest_invoices for s in moved):
        _renumber_guests(connection, cleaning, old, new, exclude=batch_id)
    _set_guest_start(connection, new.start)
    latest = connection.execute(
        select(TransactionBatch.profile)
        .where(TransactionBatch.id != batch_id)
        .order_by(TransactionBatch.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if latest is None:
        _clear(connection)
    elif latest != state.profile:
        rebuild(connection, latest, exclude=batch_id)


def rebuild(
    connection: Connection,
    profile: str,
    *,
    cleaning: CleaningProfile | None = None,
    progress: Progress | None = None,
    exclude: int | None = None,
) -> RebuildOutcome:
    """Recompute the whole rollup from the stored rows with ``profile`` (a name or file;
    ``cleaning``, when given, is its definition), one batch at a time."""
    _clear(connection)
    if cleaning is None:
        cleaning = _load(profile)
    start = None if cleaning is None else cleaning.guest_id_start
    stats = [s for s in rollup_merge.stored_stats(connection, start) if s.batch_id != exclude]
    _insert_stats(connection, stats)
    layout = guest_layout(start, stats)
    _start(connection, profile, cleaning, guest_start=layout.start)
    n_rows = 0
    for done, batch in enumerate(stats, start=1):
        if cleaning is not None:
            n_rows += rollup_merge.add_stored(connection, batch.batch_id, cleaning,
                                              layout.first_id.get(batch.batch_id))
        if progress is not None:
            progress(done, len(stats), n_rows)
    n_days = connection.execute(select(func.count()).select_from(CustomerDay)).scalar_one()
    return RebuildOutcome(profile=profile, n_batches=len(stats), n_rows=n_rows, n_days=n_days)


def rollup_profile(connection: Connection) -> str | None:
    """The profile the rollup holds, or None when there is no rollup."""
    state = _state(connection)
    return None if state is None else state.profile


def _rollup(rows: pd.DataFrame, cleaning: CleaningProfile, first_guest: int | None):
    if rows.empty:
        return None
    # the batch's guests start where they start among all batches' (pipeline.rollup)
    profile = dataclasses.replace(cleaning, guest_id_start=first_guest) \
        if cleaning.guest_id_start is not None else cleaning
    clean = clean_transactions(rows, profile).transactions
    return daily_rollup(clean) if len(clean) else None


def _renumber_guests(
    connection: Connection, cleaning: CleaningProfile, old: GuestLayout, new: GuestLayout,
    *, exclude: int,
) -> None:
    """Recompute every guest's rows (but batch ``exclude``'s) with the ``new`` layout."""
    if old.start is not None and old.total:
        # the guest range holds no real customer (pipeline.rollup.guest_layout)
        connection.execute(delete(CustomerDay).where(
            CustomerDay.customer_id >= old.start, CustomerDay.customer_id < old.start + old.total
        ))
    rows = _guest_rows(connection, exclude)
    if rows.empty or new.start is None:
        return
    _add(connection, _rollup(rows, cleaning, new.start), sign=1)


def _add(connection: Connection, days: pd.DataFrame | None, sign: int) -> None:
    """Add ``days`` (rows of :func:`pipeline.rollup.daily_rollup`, times ``sign``) to the
    rollup; rows left without a line are deleted."""
    if days is None or days.empty:
        return
    frame = days.copy()
    for name in ROLLUP_COLUMNS:
        frame[name] = frame[name] * sign
    frame["day"] = frame["day"].to_numpy().astype("datetime64[D]").astype("datetime64[s]")
    names = ", ".join(("customer_id", "day", *ROLLUP_COLUMNS))
    updates = ", ".join(f"{c} = customer_days.{c} + excluded.{c}" for c in ROLLUP_COLUMNS)
    conflict = f"ON CONFLICT (customer_id, day) DO UPDATE SET {updates}"
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS rollup_delta "
            "(LIKE customer_days INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        connection.exec_driver_sql("TRUNCATE rollup_delta")
        insert_frame(connection, "rollup_delta", frame)
        connection.exec_driver_sql(
            f"INSERT INTO customer_days ({names}) SELECT {names} FROM rollup_delta {conflict}"
        )
        if sign < 0:
            connection.exec_driver_sql(
                "DELETE FROM customer_days c USING rollup_delta d WHERE c.customer_id ="
                " d.customer_id AND c.day = d.day AND c.lines = 0"
            )
        return
    frame["day"] = frame["day"].dt.strftime("%Y-%m-%d")  # SQLAlchemy's SQLite Date text
    marks = ", ".join("?" for _ in range(len(ROLLUP_COLUMNS) + 2))
    rows = list(frame.astype(object).itertuples(index=False, name=None))
    connection.exec_driver_sql(
        f"INSERT INTO customer_days ({names}) VALUES ({marks}) {conflict}", rows
    )
    if sign < 0:
        connection.exec_driver_sql("DELETE FROM customer_days WHERE lines = 0")


def _clear(connection: Connection) -> None:
    for table in (CustomerDay, RollupBatch, RollupState):
        connection.execute(delete(table))


def _load(profile: str) -> CleaningProfile | None:
    try:
        return load_profile(profile)
    except ProfileError:
        return None  # features refuse the rollup until it is rebuilt with a known profile


def _start(
    connection: Connection, profile: str, cleaning: CleaningProfile | None,
    *, guest_start: int | None,
) -> None:
    definition = None if cleaning is None else cleaning.to_dict()
    connection.execute(insert(RollupState).values(
        id=1, profile=profile[:500], definition=definition, guest_start=guest_start,
        built_at=utcnow(),
    ))


def _state(connection: Connection):
    return connection.execute(select(RollupState.__table__)).first()


def _definition(state) -> CleaningProfile | None:
    return None if state.definition is None else profile_from_dict(state.definition)


def _set_guest_start(connection: Connection, start: int | None) -> None:
    connection.execute(RollupState.__table__.update().values(guest_start=start))


def _stats(connection: Connection) -> list[GuestStats]:
    rows = connection.execute(select(RollupBatch.__table__).order_by(RollupBatch.batch_id))
    return [GuestStats(**row._mapping) for row in rows]


def _insert_stats(connection: Connection, stats: list[GuestStats]) -> None:
    if stats:
        connection.execute(insert(RollupBatch), [dataclasses.asdict(s) for s in stats])


def _batch_rows(connection: Connection, batch_id: int) -> pd.DataFrame:
    return rollup_merge.read_rows(connection, f"batch_id = {int(batch_id)}")


def _guest_rows(connection: Connection, exclude: int) -> pd.DataFrame:
    return rollup_merge.read_rows(connection, f"customer_id IS NULL AND batch_id <> {int(exclude)}")
