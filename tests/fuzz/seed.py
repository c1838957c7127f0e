"""Seeds a running statusd through its API, so that the fuzzer's calls reach real things, and prints
the ids and credentials it made as shell assignments (read by scripts/fuzz.sh).

Usage: seed.py BASE_URL ADMIN_TOKEN STATUSD_BINARY

Users (tokens from `statusd token`): alice is the user credential; bob, carol, … heidi are her
contacts with live stories; eraser is the one whose `DELETE /v1/me` the fuzzer may call. An
advertiser with an approved creative and a running campaign, so that alice's feed carries its ad
and token (and, from tests/fuzz/bidder.py, an outside ad and its image's id); a second creative waiting for review and a second advertiser whose key the admin may
rotate, so that the admin's run does not take the advertiser's run's credential away.
"""

import io
import json
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

from PIL import Image

BASE, ADMIN, STATUSD = sys.argv[1:4]


def call(method, path, token, body=None, content_type="application/json"):
    data = None
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
    request = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
    except urllib.error.HTTPError as e:
        raise SystemExit(f"seed: {method} {path} answered {e.code}: {e.read()[:500]!r}")
    return json.loads(raw) if raw else None


def jpeg(width, height, colour):
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="JPEG")
    return out.getvalue()


def multipart(fields, files):
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content) in files.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n".encode()
        )
        out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def token(user):
    return subprocess.run([STATUSD, "token", "--user", user], check=True, capture_output=True, text=True).stdout.strip()


def creative(key, headline):
    body, content_type = multipart(
        {"headline": headline, "cta_label": "Shop now", "cta_url": "https://shop.example.com/"},
        {"image": ("creative.jpg", jpeg(1080, 1920, (7, 94, 84)))},
    )
    return call("POST", "/v1/creatives", key, body, content_type)["id"]


def main():
    # Seven friends with stories: a page of alice's with two ad slots (the house ad and, from the
    # fuzz bidder, an outside one).
    friends = ["bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    tokens = {user: token(user) for user in ["alice", "eraser", *friends]}
    call("PUT", "/v1/me/contacts", tokens["alice"], {"contacts": friends})
    for friend in friends:
        call("PUT", "/v1/me/contacts", tokens[friend], {"contacts": ["alice"]})
        call("POST", "/v1/stories", tokens[friend], {"text": f"Hello from {friend}"})
    body, content_type = multipart({"caption": "A photo"}, {"media": ("photo.jpg", jpeg(640, 480, (200, 120, 40)))})
    photo = call("POST", "/v1/stories", tokens["bob"], body, content_type)["id"]
    own = call("POST", "/v1/stories", tokens["alice"], {"text": "Alice's own"})["id"]
    call("POST", f"/v1/stories/{own}/view", tokens["bob"])
    call("POST", "/v1/stories", tokens["eraser"], {"text": "Gone soon"})

    account = call("POST", "/v1/admin/advertisers", ADMIN, {"name": "Fuzz Goods"})
    key = account["api_key"]
    approved = creative(key, "Fresh bread daily")
    call("POST", f"/v1/admin/creatives/{approved}/review", ADMIN, {"decision": "approve"})
    pending = creative(key, "Waiting for review")
    now = datetime.now(timezone.utc)
    campaign = call(
        "POST",
        "/v1/campaigns",
        key,
        {
            "name": "Fuzz",
            "creative_ids": [approved],
            "bid_cpm_micros": 5_000_000,
            "budget_micros": 1_000_000_000_000,
            "start_at": (now - timedelta(hours=1)).isoformat(),
            "end_at": (now + timedelta(days=30)).isoformat(),
            "frequency_cap": {"impressions": 1_000_000, "per_seconds": 60},
            "pacing": "asap",
        },
    )["id"]
    other = call("POST", "/v1/admin/advertisers", ADMIN, {"name": "Rotated Keys Ltd"})["id"]

    # The campaign reaches the index through pub/sub, and the outside bid's image is fetched on
    # the first page that sees it: wait for the feed to carry both ads.
    ad_token = outside_image = None
    for _ in range(100):
        feed = call("GET", "/v1/feed?limit=20", tokens["alice"])
        ads = [item["ad"] for item in feed["items"] if item["type"] == "ad"]
        house = [ad["token"] for ad in ads if ad["advertiser"]["id"] == account["id"]]
        outside = [ad["media_url"].split("/")[4] for ad in ads if ad["advertiser"]["id"].startswith("rtb_")]
        if house and outside:
            ad_token, outside_image = house[0], outside[0]
            break
        time.sleep(0.1)
    if ad_token is None:
        raise SystemExit("seed: alice's feed never carried the house ad and the outside one")

    seeded = {
        "USER_TOKEN": tokens["alice"],
        "ERASER_TOKEN": tokens["eraser"],
        "ADVERTISER_KEY": key,
        "ADVERTISER_ID": account["id"],
        "ROTATED_ADVERTISER_ID": other,
        "CREATIVE_ID": approved,
        "PENDING_CREATIVE_ID": pending,
        "CAMPAIGN_ID": campaign,
        "CONTACT_STORY_ID": photo,
        "OWN_STORY_ID": own,
        "AD_TOKEN": ad_token,
        "OUTSIDE_IMAGE_ID": outside_image,
        "OTHER_USER_ID": "carol",
        "MUTED_USER_ID": "dave",
    }
    for name, value in seeded.items():
        print(f"export FUZZ_{name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
