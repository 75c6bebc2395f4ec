"""Content-QC findings: one event schema shared by every domain (visual, audio)."""

from prism.qc.events import QC_COLUMNS, QcEvent, Severity, events_table, read_events

__all__ = ["QC_COLUMNS", "QcEvent", "Severity", "events_table", "read_events"]
