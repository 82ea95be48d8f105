"""Shared fixtures: a real PostgreSQL server and a fresh database per test."""

from __future__ import annotations

import io
import os
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import closing

import psycopg
import pytest
from psycopg import sql

from healthanalytics.config import Settings
from healthanalytics.engines import Engine, create_engine
from tests.postgres_server import throwaway_cluster

POSTGRES_URL_ENV = "HEALTHANALYTICS_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An administrative URL: the server given in the environment, or a throwaway cluster."""
    given = os.environ.get(POSTGRES_URL_ENV)
    if given:
        yield given
        return
    with throwaway_cluster() as url:
        yield url


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A URL to a new, empty database, dropped after the test."""
    name = f"ha_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = postgres_url.partition("?")
    yield base.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def tar_archive(data: bytes, name: str = "fact.csv") -> bytes:
    """`data` as the one member of an uncompressed tar archive (for archive-refusal tests)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        member = tarfile.TarInfo(name)
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture(scope="session")
def duckdb_engine(tmp_path_factory) -> Iterator[Engine]:
    """A DuckDB engine on one thread, for computing small Ibis tables as a run would."""
    output = tmp_path_factory.mktemp("engine")
    with closing(create_engine(Settings(output=str(output), threads=1))) as engine:
        yield engine
