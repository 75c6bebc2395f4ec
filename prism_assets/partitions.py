"""One dynamic partition per title; the key is the (validated) title id.

The delivery date is a run tag and asset metadata, not a partition dimension:
a date x title product would be almost entirely empty.
"""

from dagster import DynamicPartitionsDefinition

titles = DynamicPartitionsDefinition(name="titles")
