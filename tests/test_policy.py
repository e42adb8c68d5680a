"""The signing policy as pure logic: every allow-list pattern matches the whole value."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from omicsdm.signing import policy
from tests.support.evaporate import UNSIGNED, Request, string_to_sign

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
AMZ = NOW.strftime("%Y%m%dT%H%M%SZ")
GRANT = policy.UploadGrant(
    upload_id=uuid.UUID(int=1),
    bucket="omicsdm",
    object_key="datasets/d/u",
    host="127.0.0.1:8333",
    region="us-east-1",
    content_type="application/gzip",
    part_count=3,
    s3_upload_id="UP-1",
)
MD5 = base64.b64encode(hashlib.md5(b"p").digest()).decode()
EMPTY = hashlib.sha256(b"").hexdigest()


def request(method: str, query: str, **headers: str) -> Request:
    base = {"host": GRANT.host, "x-amz-date": AMZ, **headers}
    payload = UNSIGNED if method == "PUT" else EMPTY
    return Request(method, query, base, payload, f"/{GRANT.bucket}/{GRANT.object_key}")


def check(req: Request, grant: policy.UploadGrant = GRANT) -> policy.SigningRequest:
    canonical = req.canonical()
    return policy.check(grant, string_to_sign(AMZ, grant.region, canonical), AMZ, canonical, NOW)


def test_a_part_is_signed() -> None:
    signed = check(request("PUT", "?partNumber=2&uploadId=UP-1", **{"content-md5": MD5}))
    assert signed.operation is policy.Operation.UPLOAD_PART and signed.part_number == 2


@pytest.mark.parametrize("number", ["1%0A", "1%0D", "%0A1", "01", "1%20", "+1", "1.0", "0x1", "４", "1４"])  # noqa: RUF001
def test_part_numbers_must_be_whole_digits(number: str) -> None:
    with pytest.raises(policy.SigningRefused, match="partNumber"):
        check(request("PUT", f"?partNumber={number}&uploadId=UP-1", **{"content-md5": MD5}))


@pytest.mark.parametrize("marker", ["0%0A", "1%0A", "a", "-1"])
def test_part_number_markers_must_be_whole_digits(marker: str) -> None:
    with pytest.raises(policy.SigningRefused, match="part-number-marker"):
        check(request("GET", f"?part-number-marker={marker}&uploadId=UP-1"))


def test_payload_hash_must_be_whole() -> None:
    req = request("POST", "?uploadId=UP-1")
    bad = Request(req.method, req.query, req.headers, EMPTY + "\n", req.path)
    with pytest.raises(policy.SigningRefused):
        check(bad)


def test_datetime_must_be_whole() -> None:
    req = request("PUT", "?partNumber=1&uploadId=UP-1", **{"content-md5": MD5})
    canonical = req.canonical()
    with pytest.raises(policy.SigningRefused, match="datetime"):
        policy.check(GRANT, string_to_sign(AMZ, "us-east-1", canonical), AMZ + "\n", canonical, NOW)


def test_initiate_must_sign_the_declared_content_type() -> None:
    grant = replace(GRANT, s3_upload_id=None)
    assert check(request("POST", "?uploads=", **{"content-type": "application/gzip"}), grant).operation is (
        policy.Operation.INITIATE
    )
    with pytest.raises(policy.SigningRefused, match="must sign the content-type"):
        check(request("POST", "?uploads="), grant)
    with pytest.raises(policy.SigningRefused, match="content-type differs"):
        check(request("POST", "?uploads=", **{"content-type": "text/html"}), grant)
