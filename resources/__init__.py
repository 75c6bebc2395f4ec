"""Dagster ConfigurableResources: thin, configurable handles on Prism's core services."""

from resources.export import BundleExport
from resources.inbox import DeliveryInbox
from resources.media import MediaReader
from resources.storage import ArtifactStorage

__all__ = ["ArtifactStorage", "BundleExport", "DeliveryInbox", "MediaReader"]
