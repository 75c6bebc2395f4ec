"""The QC event schema (qc.parquet rows, artifact contract v1).

Each analysis domain reports what it found as a list of ``QcEvent``; the domain
assets write them as ``qc_<domain>.parquet`` (visual, audio) and the ``qc``
asset merges them into ``qc.parquet`` + ``qc_summary.json`` + ``report.html``.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    error = "error"


class QcEvent(BaseModel):
    """One finding on a time range of a title (a whole-title finding spans 0..duration)."""

    model_config = ConfigDict(frozen=True)

    check: str = Field(description="What was checked, e.g. 'black', 'freeze', 'loudness_integrated'.")
    track: int | None = Field(default=None, description="Audio track ordinal; None for video/title.")
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    severity: Severity
    value: float | None = Field(default=None, description="The measured quantity, in the check's unit.")
    message: str

    @model_validator(mode="after")
    def _ordered(self) -> QcEvent:
        if self.end_s < self.start_s:
            raise ValueError(f"{self.check}: end_s {self.end_s} < start_s {self.start_s}")
        return self


QC_SCHEMA = pa.schema(
    [
        pa.field("check", pa.string(), nullable=False),
        pa.field("track", pa.int32()),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("severity", pa.string(), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("message", pa.string(), nullable=False),
    ]
)
QC_COLUMNS = tuple(QC_SCHEMA.names)


def events_table(events: list[QcEvent]) -> pa.Table:
    """Events as an Arrow table in the contract's column order, sorted by time."""
    def order(e: QcEvent) -> tuple:
        return (e.start_s, e.end_s, e.check, -1 if e.track is None else e.track)

    ordered = sorted(events, key=order)
    rows = [e.model_dump(mode="json") for e in ordered]
    return pa.Table.from_pylist(rows, schema=QC_SCHEMA)


def read_events(data: bytes) -> list[QcEvent]:
    """Parse a qc parquet file's bytes back into events."""
    table = pq.read_table(pa.BufferReader(data))
    return [QcEvent(**row) for row in table.to_pylist()]
