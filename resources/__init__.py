"""Dagster ConfigurableResources: thin, configurable handles on Prism's core services."""

from resources.audio import AsrModel, AudioQcPolicy, VadModel
from resources.inbox import DeliveryInbox
from resources.media import MediaReader
from resources.storage import ArtifactStorage

__all__ = ["ArtifactStorage", "AsrModel", "AudioQcPolicy", "DeliveryInbox", "MediaReader", "VadModel"]
