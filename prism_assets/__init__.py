"""Prism's Dagster definitions: assets, checks, partitions, sensors, schedules, jobs."""
