"""Shared fixtures: a real PostgreSQL server and a fresh database per test; a real
S3-compatible server (moto) and a fresh bucket per test."""

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
from tests.s3_server import Bucket, fake_aws_environment, loopback_s3, new_bucket

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


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    """A real S3-compatible server (moto) on a free loopback port, for the whole session, and
    the standard AWS environment pointing at it (fake keys, AWS_ENDPOINT_URL); the server is
    stopped and the environment restored afterwards, also when a test fails."""
    pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (the dev extra)")
    home = tmp_path_factory.mktemp("aws-home")
    with loopback_s3() as endpoint, pytest.MonkeyPatch.context() as patch:
        for name, value in fake_aws_environment(endpoint, home).items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> Bucket:
    """A new, empty bucket on the loopback S3 server (objects are left: the server is
    thrown away at the end of the session)."""
    return new_bucket(s3_endpoint)
