"""A real S3-compatible server for the tests: moto's server mode, spoken to over HTTP.

``s3_server`` uses the server at TEST_S3_ENDPOINT when one answers there (``.ci/run``
starts one on 127.0.0.1:9000), else starts its own on a free port for the session.
``S3Server`` is also usable alone, for a test that stops its server midway.
Both accept parts as small as PART_SIZE, so multipart uploads show with small files.
"""

import os
import socket
import subprocess
import sys
import time
import uuid
from urllib.parse import urlparse

import pytest

from tests.processes import stop_group

PART_SIZE = 64 * 1024  # the tests' multipart part size (real S3 needs 5 MiB)
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "stinky-test",
    "AWS_SECRET_ACCESS_KEY": "stinky-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class S3Server:
    """A moto server subprocess on 127.0.0.1 (``start``, ``stop``; same port after a restart)."""

    def __init__(self, port=None):
        self.port = port or _free_port()
        self.process = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=60):
        env = {**os.environ, "S3_UPLOAD_PART_MIN_SIZE": str(PART_SIZE)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the moto server on port {self.port} did not start")
            time.sleep(0.1)
        return self

    def stop(self):
        if self.process is not None:
            stop_group(self.process, timeout=10)
            self.process = None


def s3_client(endpoint):
    """Return a boto3 client of the test server."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())


def _boto_credentials():
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def new_bucket(endpoint):
    """Create a bucket no other test uses; return its name."""
    name = f"sk-test-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def s3_server():
    """The endpoint URL of a running S3-compatible server."""
    given = os.environ.get("TEST_S3_ENDPOINT", "http://127.0.0.1:9000")
    port = urlparse(given).port
    if port and _answers(port):
        yield given
        return
    server = S3Server().start()
    try:
        yield server.endpoint
    finally:
        server.stop()


def drop_bucket(endpoint, bucket):
    """Delete a test bucket and everything in it (a long-lived server keeps it in memory)."""
    client = s3_client(endpoint)
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)
    except Exception:  # a test that stopped the server, or removed the bucket itself
        pass


@pytest.fixture
def s3_config(s3_server):
    """Config overrides that send off-site copies and exports to fresh buckets on the server."""
    backups, exports = new_bucket(s3_server), new_bucket(s3_server)
    yield {
        "BACKUP_STORAGE_URL": f"s3://{backups}/nightly",
        "BACKUP_STORAGE_ENDPOINT": s3_server,
        "BACKUP_STORAGE_PART_SIZE": PART_SIZE,
        "EXPORT_STORAGE_URL": f"s3://{exports}/exports",
        "EXPORT_STORAGE_ENDPOINT": s3_server,
        **CREDENTIALS,
    }
    drop_bucket(s3_server, backups)
    drop_bucket(s3_server, exports)
