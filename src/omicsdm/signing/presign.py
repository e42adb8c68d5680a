"""SigV4 query presigning for GetObject, with the day's signing key cached.

botocore builds a request object and an auth handler per URL (~0.15 ms each); a selection of
1,000 files asks for 1,000 URLs at once, so the hot path here is plain string work + one HMAC.
Checked against botocore's own output in tests/test_presign.py.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote, urlsplit

from omicsdm.signing.sigv4 import ALGORITHM, UNSIGNED_PAYLOAD, host_header, scope, signing_key


def _enc(value: str) -> str:
    return quote(value, safe="-_.~")


class Presigner:
    def __init__(self, endpoint_url: str, region: str, access_key: str, secret_key: str) -> None:
        # The host exactly as a browser will send it (the signer checks uploads with the same function):
        # lower case, default port dropped, no user info.
        self._host = host_header(endpoint_url)
        self._base = f"{urlsplit(endpoint_url).scheme}://{self._host}"
        self._region, self._access_key, self._secret = region, access_key, secret_key

    def get_object(
        self,
        bucket: str,
        key: str,
        *,
        expires: int,
        now: datetime,
        version_id: str | None = None,
        content_disposition: str | None = None,
        content_type: str | None = None,
    ) -> str:
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        date = amz_date[:8]
        path = "/" + _enc(bucket) + "/" + quote(key, safe="/-_.~")
        params = {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{self._access_key}/{scope(date, self._region)}",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(expires),
            "X-Amz-SignedHeaders": "host",
        }
        if content_disposition is not None:
            params["response-content-disposition"] = content_disposition
        if content_type is not None:
            params["response-content-type"] = content_type
        if version_id is not None:
            params["versionId"] = version_id
        query = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(params.items()))
        canonical = f"GET\n{path}\n{query}\nhost:{self._host}\n\nhost\n{UNSIGNED_PAYLOAD}"
        to_sign = (
            f"{ALGORITHM}\n{amz_date}\n{scope(date, self._region)}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        signature = hmac.new(
            signing_key(self._secret, date, self._region), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        return f"{self._base}{path}?{query}&X-Amz-Signature={signature}"
