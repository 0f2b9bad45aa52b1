"""The OpenAPI documents in openapi/ and a live tier (one member) to check them against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.tier import Tier, running

SPECS = Path(__file__).resolve().parents[3] / "openapi"
MAX_BLOB_BYTES = 1 << 20


def load(name: str, base_url: str) -> OpenApiSchema:
    """Load reads openapi/<name>.yaml and points it at base_url."""
    schema = schemathesis.openapi.from_path(SPECS / f"{name}.yaml")
    schema.config.update(base_url=base_url, request_timeout=10)
    return schema


@pytest.fixture(scope="module")
def tier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tier]:
    """Tier is a casserver and one cacheserver member, shared by a module's tests."""
    env = {"CAS_MAX_BLOB_BYTES": str(MAX_BLOB_BYTES)}
    with running(Tier(tmp_path_factory.mktemp("openapi"), n=1, origin_env=env)) as t:
        yield t


@pytest.fixture(scope="module")
def cas_schema(tier: Tier) -> OpenApiSchema:
    return load("casserver", tier.origin_url)


@pytest.fixture(scope="module")
def cache_schema(tier: Tier) -> OpenApiSchema:
    return load("cacheserver", tier.urls[0])
