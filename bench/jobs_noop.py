"""No-op job functions for bench/jobs.py: one raw, one through Hub's runner."""

from __future__ import annotations

from hub.jobs.runner import hub_job


def raw_noop(value: str) -> str:
    return value


@hub_job("bench.noop")
def hub_noop(value: str) -> str:
    return value
