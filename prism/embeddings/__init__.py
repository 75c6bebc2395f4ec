"""Image and text embedders behind one small interface (see base.py).

``load_image_embedder`` / ``load_text_embedder`` (loading.py) build the configured ones; the
backends are ``TransformersImageEmbedder`` (clip.py: CLIP/SigLIP, or image-only checkpoints),
``ColorLayoutEmbedder`` (color_layout.py: the built-in descriptor),
``TransformersSentenceEmbedder`` (sentence.py), and ``BedrockImageEmbedder`` /
``BedrockTextEmbedder`` (bedrock.py: Amazon Nova Multimodal Embeddings on Amazon Bedrock, with a
content-hash vector cache in cache.py). Backends import torch/transformers/boto3 lazily.
"""

from prism.embeddings.base import EmbeddingError, ImageEmbedder, NoTextTower, TextEmbedder, l2_normalize
from prism.embeddings.loading import BUILTIN_COLOR_LAYOUT, load_image_embedder, load_text_embedder

__all__ = [
    "BUILTIN_COLOR_LAYOUT",
    "EmbeddingError",
    "ImageEmbedder",
    "NoTextTower",
    "TextEmbedder",
    "l2_normalize",
    "load_image_embedder",
    "load_text_embedder",
]
