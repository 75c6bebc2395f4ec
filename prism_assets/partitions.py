"""One dynamic partition per title; the key is the (validated) title id.

The delivery date is a run tag and asset metadata, not a partition dimension:
a date x title product would be almost entirely empty.
"""

from dagster import AssetExecutionContext, DynamicPartitionsDefinition, Failure

from prism.ids import InvalidTitleId, validate_title_id

titles = DynamicPartitionsDefinition(name="titles")


def title_of(context: AssetExecutionContext) -> str:
    """The run's title id, refused before any path is built if it is not a safe id
    (partitions can also be added by hand in the UI, bypassing manifest validation)."""
    try:
        return validate_title_id(context.partition_key)
    except InvalidTitleId as exc:
        raise Failure(f"refusing partition: {exc}") from None
