#!/usr/bin/env python3
"""Checks the Standard Webhooks signature of every request a receiver.py log
holds, independently of Herald: HMAC-SHA256 over "{webhook-id}.{webhook-
timestamp}.{body}" with the secret in the environment variable
WEBHOOK_SECRET ("whsec_<base64>"), compared with each "v1,<base64>" entry of
webhook-signature. Prints "checked N" and exits 0 when every request is
signed correctly; prints each bad one and exits 1 otherwise.
"""

import base64
import hashlib
import hmac
import json
import os
import sys


def main():
    secret = os.environ["WEBHOOK_SECRET"]
    if secret.startswith("whsec_"):
        secret = secret[len("whsec_"):]
    key = base64.b64decode(secret)
    bad = 0
    checked = 0
    with open(sys.argv[1], encoding="utf-8") as log:
        for number, line in enumerate(log, 1):
            record = json.loads(line)
            headers = {}
            for name, value in record["headers"]:
                headers.setdefault(name, value)
            body = base64.b64decode(record["body_base64"])
            msg_id = headers.get("webhook-id")
            timestamp = headers.get("webhook-timestamp")
            signature = headers.get("webhook-signature")
            if not msg_id or not timestamp or not signature:
                print(f"line {number}: missing webhook-* headers")
                bad += 1
                continue
            content = msg_id.encode() + b"." + timestamp.encode() + b"." + body
            expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
            given = [s.split(",", 1)[1] for s in signature.split(" ") if s.startswith("v1,")]
            if not any(hmac.compare_digest(expected, g) for g in given):
                print(f"line {number}: bad signature for {msg_id}")
                bad += 1
            checked += 1
    print(f"checked {checked}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
