"""Dagster ConfigurableResources: thin, configurable handles on Prism's core services."""

from resources.audio import AsrModel, AudioQcPolicy, VadModel
from resources.embeddings import TextEmbeddingModel, VisualEmbeddingModel
from resources.export import BundleExport
from resources.inbox import DeliveryInbox
from resources.media import MediaReader
from resources.ocr import OnscreenTextModel
from resources.qc import QcPolicy
from resources.speakers import DiarizationModel
from resources.storage import ArtifactStorage
from resources.vectors import VectorIndex
from resources.visual import VisualAnalysis

__all__ = ["ArtifactStorage", "AsrModel", "AudioQcPolicy", "BundleExport", "DeliveryInbox",
           "DiarizationModel", "MediaReader", "OnscreenTextModel", "QcPolicy", "TextEmbeddingModel", "VadModel",
           "VectorIndex", "VisualAnalysis", "VisualEmbeddingModel"]
