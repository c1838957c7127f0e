"""Schemathesis hooks for scripts/fuzz.sh.

- Uploads: the document's example image (a placeholder text) and half of the generated image parts
  (by the parity of their length, so that a seed replays the same choice) are swapped for a real
  JPEG, so that uploads succeed as well as fail.
- New campaigns: generated creative ids are swapped for the seeded approved creative, the one id a
  campaign can run with.
- Every answer is recorded (credential, operation, status) in $FUZZ_CALLS, for the per-credential
  list of operations that never got a 2xx.
"""

import io
import os

import schemathesis
from PIL import Image

CREDENTIAL = os.environ["FUZZ_CREDENTIAL"]
CALLS = os.environ["FUZZ_CALLS"]
CREATIVE_ID = os.environ["FUZZ_CREATIVE_ID"]


def _jpeg():
    out = io.BytesIO()
    Image.new("RGB", (720, 1280), (7, 94, 84)).save(out, format="JPEG")
    return out.getvalue()


JPEG = _jpeg()
IMAGE_PARTS = ("media", "image")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    body = case.body
    if not isinstance(body, dict):
        return
    if (case.media_type or "").startswith("multipart/"):
        for part in IMAGE_PARTS:
            value = body.get(part)
            if isinstance(value, str) or (isinstance(value, bytes) and len(value) % 2 == 0):
                body[part] = JPEG
    if case.operation.method.upper() == "POST" and case.operation.path == "/v1/campaigns":
        if isinstance(body.get("creative_ids"), list) and body["creative_ids"]:
            body["creative_ids"] = [CREATIVE_ID]


@schemathesis.hook
def after_call(ctx, case, response):
    with open(CALLS, "a", encoding="utf-8") as calls:
        calls.write(f"{CREDENTIAL}\t{case.operation.method.upper()} {case.operation.path}\t{response.status_code}\n")
