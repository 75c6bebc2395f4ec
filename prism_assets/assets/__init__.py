"""Per-title assets, one module per domain."""

from prism_assets.assets.intake import delivery
from prism_assets.assets.source import source_probe

PER_TITLE_ASSETS = [delivery, source_probe]

__all__ = ["PER_TITLE_ASSETS", "delivery", "source_probe"]
