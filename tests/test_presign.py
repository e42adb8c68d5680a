"""The hand-written presigner produces exactly botocore's URL, and SeaweedFS honours it."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config

from omicsdm.settings import S3Settings
from omicsdm.signing.presign import Presigner
from omicsdm.storage import content_disposition


def test_matches_botocore_byte_for_byte() -> None:
    now = datetime(2026, 11, 25, 9, 30, 5, tzinfo=UTC)
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        region_name="eu-west-3",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    key = "datasets/5e0c1a/4f3b-9d"
    disposition = content_disposition("run 1/échantillon (1).fastq.gz")
    with mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)):
        expected = client.generate_presigned_url(
            "get_object",
            Params={"Bucket": "omicsdm", "Key": key, "VersionId": "v-1", "ResponseContentDisposition": disposition},
            ExpiresIn=900,
        )
    ours = Presigner("http://127.0.0.1:9000", "eu-west-3", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    got = ours.get_object("omicsdm", key, expires=900, now=now, version_id="v-1", content_disposition=disposition)
    assert urlsplit(got)._replace(query="") == urlsplit(expected)._replace(query="")
    assert parse_qs(urlsplit(got).query) == parse_qs(urlsplit(expected).query)


def test_content_disposition_keeps_the_name() -> None:
    value = content_disposition('dir/résumé "final".txt')
    assert value.startswith('attachment; filename="r_sum_ _final_.txt"')
    assert value.endswith("filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.txt")


@pytest.mark.parametrize(
    ("configured", "canonical"),
    [
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("https://s3.example.org:443", "https://s3.example.org"),
        ("http://s3.example.org:80", "http://s3.example.org"),
        ("https://S3.Example.ORG", "https://s3.example.org"),
        ("https://S3.Example.ORG:9443", "https://s3.example.org:9443"),
        ("http://[::1]:8333", "http://[::1]:8333"),
        ("https://s3.example.org/", "https://s3.example.org"),
    ],
)
def test_download_urls_use_the_signers_host_rule(configured: str, canonical: str) -> None:
    """The host a browser sends (lower case, no default port) is what both the presigner and the signer use."""
    now = datetime(2026, 11, 25, 9, 30, 5, tzinfo=UTC)
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    client = boto3.client(
        "s3",
        endpoint_url=canonical,
        region_name="us-east-1",
        aws_access_key_id="AKID",
        aws_secret_access_key=secret,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    params = {"Bucket": "b", "Key": "datasets/x/y", "ResponseContentType": "text/plain"}
    with mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)):
        expected = client.generate_presigned_url("get_object", Params=params, ExpiresIn=60)
    got = Presigner(configured, "us-east-1", "AKID", secret).get_object(
        "b", "datasets/x/y", expires=60, now=now, content_type="text/plain"
    )
    assert urlsplit(got)._replace(query="") == urlsplit(expected)._replace(query="")
    assert parse_qs(urlsplit(got).query) == parse_qs(urlsplit(expected).query)
    settings = S3Settings(endpoint_url="http://127.0.0.1:8333", public_url=configured)
    assert settings.browser_host == urlsplit(canonical).netloc
