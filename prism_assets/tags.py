"""Run tags Prism sets on every title run (the delivery date lives here, not in partitions)."""

from __future__ import annotations

from prism.intake.inbox import Delivery

MANIFEST_KEY = "prism/manifest_key"
MANIFEST_SHA256 = "prism/manifest_sha256"
DELIVERY_DATE = "prism/delivery_date"
DELIVERED_AT = "prism/delivered_at"
TRIGGER = "prism/trigger"  # sensor | schedule | cli
WORKER = "prism/worker"  # the process executing an in-process run (prism.liveness token)


def delivery_tags(delivery: Delivery, trigger: str) -> dict[str, str]:
    return {
        MANIFEST_KEY: delivery.key,
        MANIFEST_SHA256: delivery.digest,
        DELIVERY_DATE: delivery.manifest.delivery_date.isoformat(),
        DELIVERED_AT: delivery.manifest.delivered_at.isoformat(),
        TRIGGER: trigger,
    }
