"""The calls a client makes, through the Python client generated from statusd's /openapi.json.

Every answer is parsed by the generated code: a call whose answer the document does not describe
(a status it does not list, a body its schema does not fit) fails here.

Usage: calls.py BASE_URL ADMIN_TOKEN ALICE_TOKEN BOB_TOKEN
"""

import io
import json
import sys
from datetime import datetime, timedelta, timezone

from PIL import Image
from statusd_client import AuthenticatedClient
from statusd_client.api.advertisers import create_advertiser
from statusd_client.api.campaigns import campaign_report, campaign_report_csv, create_campaign
from statusd_client.api.creatives import create_creative, creative_thumb, review_creative
from statusd_client.api.feed import get_feed
from statusd_client.api.stories import create_story
from statusd_client.api.users import put_contacts
from statusd_client.models import (
    AdvertiserWithKey,
    AuthorFeedItem,
    Campaign,
    Contacts,
    Creative,
    Decision,
    Feed,
    FrequencyCap,
    NewAdvertiser,
    NewCampaign,
    NewCreative,
    NewCreativeCtaLabel,
    NewTextStory,
    Pacing,
    Problem,
    Report,
    Review,
    Story,
)
from statusd_client.types import File


def expect(value, kind, what):
    if not isinstance(value, kind):
        raise SystemExit(f"{what}: expected {kind.__name__}, got {value!r}")
    print(f"ok  {what}")
    return value


def main():
    base_url, admin_token, alice_token, bob_token = sys.argv[1:5]
    admin = AuthenticatedClient(base_url=base_url, token=admin_token, raise_on_unexpected_status=True)
    alice = AuthenticatedClient(base_url=base_url, token=alice_token, raise_on_unexpected_status=True)
    bob = AuthenticatedClient(base_url=base_url, token=bob_token, raise_on_unexpected_status=True)

    # Contacts, a text story, and the feed that shows it.
    expect(put_contacts.sync(client=alice, body=Contacts(contacts=["bob"])), Contacts, "alice's contacts")
    expect(put_contacts.sync(client=bob, body=Contacts(contacts=["alice"])), Contacts, "bob's contacts")
    story = expect(
        create_story.sync(client=alice, body=NewTextStory(text="Hello from a generated client", font=2)),
        Story,
        "a text story",
    )
    feed = expect(get_feed.sync(client=bob, limit=20), Feed, "bob's feed")
    first = expect(feed.items[0], AuthorFeedItem, "the feed's first item")
    assert first.author == "alice" and first.stories[0].id == story.id, first

    # An error a client can act on: the field it is about, in errors[].
    problem = expect(
        put_contacts.sync(client=alice, body=Contacts(contacts=["bob", "not a user id!"])),
        Problem,
        "a refused contact list",
    )
    assert problem.status == 400 and problem.code == "validation_failed", problem
    assert [e.field for e in problem.errors] == ["contacts[1]"], problem.errors

    # An advertiser, a creative uploaded and approved, a campaign and its report.
    account = expect(
        create_advertiser.sync(client=admin, body=NewAdvertiser(name="Generated Goods")),
        AdvertiserWithKey,
        "an advertiser account",
    )
    advertiser = AuthenticatedClient(base_url=base_url, token=account.api_key, raise_on_unexpected_status=True)
    image = io.BytesIO()
    Image.new("RGB", (540, 960), (7, 94, 84)).save(image, format="JPEG")
    image.seek(0)
    upload = NewCreative(
        image=File(payload=image, file_name="creative.jpg", mime_type="image/jpeg"),
        headline="Fresh from the client",
        cta_label=NewCreativeCtaLabel("Shop now"),
        cta_url="https://shop.example.com/",
    )
    creative = expect(create_creative.sync(client=advertiser, body=upload), Creative, "an uploaded creative")
    assert creative.status == "pending_review", creative.status
    thumb = creative_thumb.sync_detailed(id=creative.id, client=advertiser)
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8", thumb.status_code
    print("ok  the creative's thumbnail is a JPEG")
    reviewed = review_creative.sync(id=creative.id, client=admin, body=Review(decision=Decision.APPROVE))
    expect(reviewed, Creative, "an approved creative")
    campaign = expect(
        create_campaign.sync(
            client=advertiser,
            body=NewCampaign(
                name="Generated",
                creative_ids=[creative.id],
                bid_cpm_micros=2_000_000,
                budget_micros=100_000_000,
                start_at=datetime.now(timezone.utc) - timedelta(hours=1),
                end_at=datetime.now(timezone.utc) + timedelta(days=30),
                frequency_cap=FrequencyCap(impressions=3, per_seconds=3600),
                pacing=Pacing.EVEN,
            ),
        ),
        Campaign,
        "a campaign",
    )
    expect(campaign_report.sync(id=campaign.id, client=advertiser), Report, "the campaign's JSON report")
    csv = campaign_report_csv.sync_detailed(id=campaign.id, client=advertiser)
    assert csv.status_code == 200, csv.status_code
    header = csv.content.decode().splitlines()[0]
    assert "impressions" in header.split(","), header
    print("ok  the campaign's CSV report")
    print(json.dumps({"story": story.id, "creative": creative.id, "campaign": campaign.id}))


if __name__ == "__main__":
    main()
