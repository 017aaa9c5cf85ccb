"""Signs requests with botocore's Signature Version 4 signer, for the IAM end-to-end tests.

Reads a JSON list of requests on stdin: {method, url, body, access_key, secret, token,
presign (seconds, for a presigned URL), at (epoch seconds to sign at)}; writes the signed
requests as a JSON list of {method, url, headers, body}.
"""
import datetime
import json
import sys
from unittest import mock

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

out = []
for r in json.load(sys.stdin):
    creds = Credentials(r["access_key"], r["secret"], r.get("token"))
    req = AWSRequest(method=r["method"], url=r["url"], data=r.get("body", "").encode())
    if "presign" in r:
        signer = SigV4QueryAuth(creds, "execute-api", "us-east-1", expires=r["presign"])
    else:
        signer = SigV4Auth(creds, "execute-api", "us-east-1")
    at = datetime.datetime.fromtimestamp(r["at"], datetime.timezone.utc).replace(tzinfo=None) if "at" in r else None
    if at is not None:
        with mock.patch("botocore.auth.get_current_datetime", return_value=at):
            signer.add_auth(req)
    else:
        signer.add_auth(req)
    out.append({
        "method": req.method,
        "url": req.url,
        "headers": dict(req.headers.items()),
        "body": r.get("body", ""),
    })
json.dump(out, sys.stdout)
