"""A real S3 server for the tests (SeaweedFS, `bench.cluster.s3_server`); skipped without it.
No mock of S3 anywhere."""

import contextlib
from pathlib import Path

import pytest

from bench.cluster import ACCESS_KEY, REGION, SECRET_KEY, Missing, s3_server

__all__ = ["ACCESS_KEY", "REGION", "SECRET_KEY", "server"]


@contextlib.contextmanager
def server(data: Path):
    """`weed mini` serving S3; yields its endpoint and a boto3 client of it."""
    try:
        started = s3_server(data)
        endpoint, client = started.__enter__()
    except Missing as missing:
        pytest.skip(str(missing))
    try:
        yield endpoint, client
    finally:
        started.__exit__(None, None, None)
