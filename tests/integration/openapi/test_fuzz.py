"""Schemathesis against the live servers: no 5xx, no response the spec does not allow.

Each operation of each document gets a few generated requests, valid (positive) and
invalid (negative), so the whole run stays well under a minute. Hypothesis drives
schemathesis' strategies directly: the servers' ports are known only at run time.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.integration.openapi.conftest import SPECS
from tests.tier import Tier

MAX_EXAMPLES = 10


def operations(name: str) -> list[object]:
    """Operations are pytest params, one per operation and generation mode that can vary."""
    schema = schemathesis.openapi.from_path(SPECS / f"{name}.yaml")
    params: list[object] = []
    for result in schema.get_all_operations():
        op = result.ok()
        modes = [GenerationMode.POSITIVE]
        if list(op.iter_parameters()) or op.body:  # nothing to get wrong otherwise
            modes.append(GenerationMode.NEGATIVE)
        params += [pytest.param(name, op.label, m) for m in modes]
    return params


def fuzz(name: str, label: str, base_url: str, mode: GenerationMode) -> None:
    """Fuzz sends MAX_EXAMPLES generated requests for one operation and validates each reply."""
    schema = schemathesis.openapi.from_path(SPECS / f"{name}.yaml")
    operation = next(op.ok() for op in schema.get_all_operations() if op.ok().label == label)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: schemathesis.Case) -> None:
        # A body that is valid by the schema still has to hash to the URL's digest, which
        # no schema can say, so "valid input is accepted" does not apply to uploads.
        case.call_and_validate(
            base_url=base_url, timeout=10, excluded_checks=[positive_data_acceptance]
        )

    one()


@pytest.mark.parametrize(
    ("name", "label", "mode"), operations("casserver") + operations("cacheserver")
)
def test_fuzzed_requests_get_no_5xx_and_only_answers_the_spec_allows(
    tier: Tier, name: str, label: str, mode: GenerationMode
) -> None:
    fuzz(name, label, tier.origin_url if name == "casserver" else tier.urls[0], mode)
