"""Prism core: settings, intake, storage and media analysis as plain Python.

Dagster wiring lives in ``prism_assets``; Dagster resources in ``resources``.
"""

__version__ = "0.1.0"
