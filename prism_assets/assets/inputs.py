"""What every per-title asset checks first: that the artifacts it reads exist."""

from dagster import Failure

from prism.storage import ArtifactStore


def require_artifacts(store: ArtifactStore, title_id: str, *needed: tuple[str, str]) -> None:
    """Fail the step with a specific message for the first missing ``(artifact, producing asset)``."""
    for name, producer in needed:
        if not store.exists(title_id, name):
            raise Failure(f"title {title_id}: {name} is missing; materialize `{producer}` first")
