"""report.html: the human overview of one title (QC verdict, timeline, shots, audio, transcript)."""

from prism.report.render import ReportInputs, render_report

__all__ = ["ReportInputs", "render_report"]
