"""The ancestor's options end to end: the `s3cache` CLI writes through moto (SigV4 checked) and
boto3, an independent client, reads back what S3 recorded: storage class, object and bucket
ACLs, server-side encryption, the bucket's region, and object names by the ancestor's formula."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from conftest import BUCKET, sha1
from servers import Server, s3cache_binary


def cli(server: Server, *args: str, bucket: str = BUCKET) -> subprocess.CompletedProcess:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "S3CACHE_"))
    }
    env.update(
        AWS_ACCESS_KEY_ID=server.access_key_id,
        AWS_SECRET_ACCESS_KEY=server.secret_access_key,
        AWS_ENDPOINT_URL_S3=server.endpoint,
        S3CACHE_BUCKET=bucket,
    )
    return subprocess.run(
        [s3cache_binary(), *args], env=env, capture_output=True, text=True, timeout=60
    )


def stored(server: Server, location: str, key: str, *options: str) -> dict:
    run = cli(server, "--location", location, *options, "set", key, "value")
    assert run.returncode == 0, run.stderr
    return server.boto3().head_object(Bucket=BUCKET, Key=f"{location}/{sha1(':1:' + key)}")


def test_reduced_redundancy_and_storage_class(moto_server, location):
    assert stored(moto_server, location, "rr", "--reduced-redundancy")["StorageClass"] == (
        "REDUCED_REDUNDANCY"
    )
    head = stored(moto_server, location, "ia", "--storage-class", "STANDARD_IA")
    assert head["StorageClass"] == "STANDARD_IA"
    run = cli(moto_server, "--reduced-redundancy", "--storage-class", "GLACIER", "set", "k", "v")
    assert run.returncode == 2 and "reduced-redundancy" in run.stderr


def test_object_acl(moto_server, location):
    stored(moto_server, location, "public", "--acl", "public-read")
    name = f"{location}/{sha1(':1:public')}"
    grants = moto_server.boto3().get_object_acl(Bucket=BUCKET, Key=name)["Grants"]
    assert any(
        grant["Grantee"].get("URI", "").endswith("/global/AllUsers")
        and grant["Permission"] == "READ"
        for grant in grants
    )


@pytest.mark.parametrize(
    "options, algorithm, key_id",
    [
        (("--sse", "AES256"), "AES256", None),
        (("--sse", "aws:kms"), "aws:kms", None),
        (("--sse", "aws:kms", "--sse-kms-key-id", "alias/s3cache-test"), "aws:kms", "alias"),
    ],
)
def test_server_side_encryption(moto_server, location, options, algorithm, key_id):
    head = stored(moto_server, location, "secret", *options)
    assert head["ServerSideEncryption"] == algorithm
    if key_id:
        assert "s3cache-test" in head["SSEKMSKeyId"]
    run = cli(moto_server, "--location", location, *options, "get", "secret")
    assert run.returncode == 0 and run.stdout == "value", run.stderr


def test_bad_encryption_options_are_refused_before_any_request(moto_server):
    for options in (("--sse", "rot13"), ("--sse", "AES256", "--sse-kms-key-id", "k")):
        run = cli(moto_server, *options, "set", "k", "v")
        assert run.returncode == 2 and "invalid config" in run.stderr, run.stderr


def test_a_created_bucket_has_its_acl_and_region(moto_server, location):
    bucket = "made-" + uuid.uuid4().hex[:12]
    run = cli(
        moto_server,
        "--create-bucket",
        "--bucket-acl",
        "public-read",
        "--region",
        "eu-west-1",
        "--location",
        location,
        "set",
        "k",
        "v",
        bucket=bucket,
    )
    assert run.returncode == 0, run.stderr
    s3 = moto_server.boto3()
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert any(grant["Grantee"].get("URI", "").endswith("/global/AllUsers") for grant in grants)
    plain = "plain-" + uuid.uuid4().hex[:12]
    run = cli(moto_server, "--create-bucket", "set", "k", "v", bucket=plain)
    assert run.returncode == 0, run.stderr
    grants = s3.get_bucket_acl(Bucket=plain)["Grants"]
    assert not any("AllUsers" in grant["Grantee"].get("URI", "") for grant in grants)


def test_names_follow_the_ancestors_formula(server, location):
    for options, made in (
        ((), ":1:foo"),
        (("--key-prefix", "site", "--key-version", "7"), "site:7:foo"),
    ):
        run = cli(server, "--create-bucket", "--location", location, *options, "set", "foo", "v")
        assert run.returncode == 0, run.stderr
        server.boto3().head_object(Bucket=BUCKET, Key=f"{location}/{sha1(made)}")


def test_virtual_hosted_addressing_through_localhost(server, location):
    port = server.endpoint.rsplit(":", 1)[1]
    bucket = "vhost-" + uuid.uuid4().hex[:12]
    base = ("--endpoint", f"http://localhost:{port}", "--addressing", "virtual", "--create-bucket")
    run = cli(server, *base, "--location", location, "set", "k", "hello", bucket=bucket)
    assert run.returncode == 0, run.stderr
    run = cli(server, *base, "--location", location, "get", "k", bucket=bucket)
    assert run.stdout == "hello", run.stderr
    server.boto3().head_object(Bucket=bucket, Key=f"{location}/{sha1(':1:k')}")
