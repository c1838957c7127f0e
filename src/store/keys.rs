//! The Redis key schema, in one place.
//!
//! Every key carries a hash tag so that Redis Cluster keeps what one operation touches in one slot:
//! a user's keys live under `{u:<id>}`, a story's under `{s:<id>}`. Scripts and transactions only
//! ever touch one tag; reads that span users or stories go out as one pipeline per tag.

use crate::auth::Caller;

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys { prefix: prefix.to_owned() }
    }

    /// `<prefix>{<kind>:<id>}:<what>`. Concatenated rather than `format!`ed: a feed page builds
    /// about a hundred keys, and the formatting machinery was a visible share of it.
    fn tagged(&self, kind: &str, id: &str, what: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + id.len() + what.len() + 4);
        for part in [self.prefix.as_str(), "{", kind, ":", id, "}:", what] {
            key.push_str(part);
        }
        key
    }

    fn user(&self, user: &str, what: &str) -> String {
        self.tagged("u", user, what)
    }

    fn story_key(&self, story: &str, what: &str) -> String {
        self.tagged("s", story, what)
    }

    /// SET of the user ids on the user's contact list.
    pub fn contacts(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "contacts")
    }
    /// SET of the users who have this user on their contact list: the mirror of their lists,
    /// written by their replacements (see `store::users::set_contacts`), so that posting finds
    /// its mutual contacts on the author's slot with one SINTER instead of asking each contact's
    /// list.
    pub fn listed_by(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "listed-by")
    }
    /// HASH other user → "<ms><+|->,…": when this user put the other on their contact list (+)
    /// or took them off (-), within a story's lifetime and at least the last change, for everyone
    /// on the list and those taken off within a story's lifetime. A read by id asks it alone
    /// whether the two are contacts now and were when a story was posted (see
    /// `users::ContactLog`): every replacement of the list logs every contact on it, so someone
    /// the log does not name is not on the list.
    pub fn contact_log(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "contact-log")
    }
    /// STRING held while the contact list is being replaced: one replacement at a time.
    pub fn contacts_lock(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "contacts-lock")
    }
    /// SET of the contacts whose `contact_removals` a replacement of the list is changing;
    /// left behind only by one that failed midway, for the next to finish (see
    /// `store::users::set_contacts`).
    pub fn contacts_pending(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "contacts-pending")
    }
    /// ZSET "<removal>:<other user>" → time (ms), kept for a story's lifetime: "removed-by:<other>"
    /// while the other has taken this user off their contact list, "removed:<other>" while this
    /// user has taken the other off their own (see `store::users::Removal`). Their stories already
    /// in this user's tray are hidden from this user while a mark is there. It lives on this
    /// user's slot, so that a feed page checks it with the tray instead of asking contact lists.
    pub fn contact_removals(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "contact-removals")
    }
    /// HASH of the user's settings (see `store::users`).
    pub fn settings(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "settings")
    }
    /// SET of the authors the user muted.
    pub fn muted(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "muted")
    }
    /// ZSET story id → expires_at (ms): the author's live stories.
    pub fn authored(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "stories")
    }
    /// STRING of lines "<expires_at ms> <author>/<story id>", in posting order: the stories fanned
    /// out to this viewer since the viewer last read the feed, that expire within tray window
    /// `window` (see [`tray_window`]). Posting appends to it; reading the feed takes its lines
    /// into the tray index and deletes it. It expires when its window ends, so that the entries of
    /// a viewer who does not read go with it, at most a window late.
    pub fn tray(&self, user: &(impl AsRef<str> + ?Sized), window: i64) -> String {
        self.user(user.as_ref(), &format!("tray:{window}"))
    }
    /// [`Keys::tray`] of each of `users` for one window (its name formatted once: posting builds
    /// a thousand of these).
    pub fn trays(&self, users: &[crate::ids::UserId], window: i64) -> Vec<String> {
        let what = format!("tray:{window}");
        users.iter().map(|user| self.user(user.as_str(), &what)).collect()
    }
    /// Every tray window of `user` that may hold an entry live at `now_ms`, for stories that live
    /// `ttl_ms`: one window more than that lifetime reaches, for stories posted by an instance
    /// configured with a longer one.
    pub fn live_trays(&self, user: &(impl AsRef<str> + ?Sized), now_ms: i64, ttl_ms: i64) -> Vec<String> {
        (tray_window(now_ms)..=tray_window(now_ms + ttl_ms) + 1)
            .map(|window| self.tray(user, window))
            .collect()
    }
    /// The viewer's tray index (see `store::tray`): HASH author → their live stories in this
    /// tray, "<story id> <expires_at ms> <seen 0|1>", comma-separated, in posting order.
    pub fn tray_stories(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "tray-stories")
    }
    /// The tray index: ZSET author → −(newest story's created ms), for authors with an unseen story.
    pub fn tray_unseen(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "tray-unseen")
    }
    /// The tray index: ZSET author → −(newest story's created ms), for authors seen in full.
    pub fn tray_seen(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "tray-seen")
    }
    /// The tray index: ZSET author → when their first story in the tray expires (ms).
    pub fn tray_due(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "tray-due")
    }
    /// The four keys of the tray index, in the order `scripts/tray_index.lua` takes them.
    pub fn tray_index(&self, user: &(impl AsRef<str> + ?Sized)) -> [String; 4] {
        [
            self.tray_stories(user),
            self.tray_unseen(user),
            self.tray_seen(user),
            self.tray_due(user),
        ]
    }
    /// ZSET story id → expires_at (ms): stories this viewer has seen.
    pub fn seen(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "seen")
    }
    /// ZSET story id → expires_at (ms): stories this user viewed, reacted to or reported, so that
    /// erasing the user can find their traces on others' stories.
    pub fn touched(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "touched")
    }
    /// STRING: the stored response of one `Idempotency-Key` of this user.
    pub fn idempotency(&self, user: &(impl AsRef<str> + ?Sized), key_hash: &str) -> String {
        self.user(user.as_ref(), &format!("idem:{key_hash}"))
    }
    /// SET of this user's idempotency keys (so erasing the user finds them).
    pub fn idempotency_index(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "idem")
    }

    /// STRING present while the user is entitled to no ads (set by the admin).
    pub fn ad_free(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "ads:free")
    }
    /// SET of campaign ids the user hid.
    pub fn ad_hidden(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "ads:hidden")
    }
    /// SET of advertiser ids the user blocked.
    pub fn ad_blocked(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "ads:blocked")
    }
    /// ZSET "<campaign>/<token id>" → time (ms): the user's counted impressions, for caps.
    pub fn ad_impressions(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "ads:impressions")
    }
    /// ZSET advertiser id → time (ms) of the user's latest impression of theirs.
    pub fn ad_recent(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "ads:recent")
    }
    /// ZSET "<token id>:<event>" → token expiry (ms): token events already counted.
    pub fn ad_counted(&self, user: &(impl AsRef<str> + ?Sized)) -> String {
        self.user(user.as_ref(), "ads:counted")
    }

    /// STRING: the story record (JSON).
    pub fn story(&self, story: &(impl AsRef<str> + ?Sized)) -> String {
        self.story_key(story.as_ref(), "story")
    }
    /// STRING: the full-size image bytes.
    pub fn story_media(&self, story: &(impl AsRef<str> + ?Sized)) -> String {
        self.story_key(story.as_ref(), "media")
    }
    /// STRING: the thumbnail bytes.
    pub fn story_thumb(&self, story: &(impl AsRef<str> + ?Sized)) -> String {
        self.story_key(story.as_ref(), "thumb")
    }
    /// ZSET viewer → viewed_at (ms).
    pub fn story_views(&self, story: &(impl AsRef<str> + ?Sized)) -> String {
        self.story_key(story.as_ref(), "views")
    }
    /// HASH viewer → emoji.
    pub fn story_reactions(&self, story: &(impl AsRef<str> + ?Sized)) -> String {
        self.story_key(story.as_ref(), "reactions")
    }
    /// HASH reporter → reason.
    pub fn story_reports(&self, story: &(impl AsRef<str> + ?Sized)) -> String {
        self.story_key(story.as_ref(), "reports")
    }

    /// HASH expiry minute → live stories expiring in it (see `store::live`): one per deployment.
    pub fn live_stories(&self) -> String {
        format!("{}{{live}}:by_minute", self.prefix)
    }

    /// Every key that belongs to one story.
    pub fn all_of_story(&self, story: &(impl AsRef<str> + ?Sized)) -> [String; 6] {
        [
            self.story(story),
            self.story_media(story),
            self.story_thumb(story),
            self.story_views(story),
            self.story_reactions(story),
            self.story_reports(story),
        ]
    }

    /// Every fixed-name key that belongs to one user.
    pub fn all_of_user(&self, user: &(impl AsRef<str> + ?Sized)) -> Vec<String> {
        vec![
            self.contacts(user),
            self.listed_by(user),
            self.contacts_lock(user),
            self.contact_log(user),
            self.contacts_pending(user),
            self.contact_removals(user),
            self.settings(user),
            self.muted(user),
            self.authored(user),
            self.seen(user),
            self.tray_stories(user),
            self.tray_unseen(user),
            self.tray_seen(user),
            self.tray_due(user),
            self.touched(user),
            self.idempotency_index(user),
            self.ad_free(user),
            self.ad_hidden(user),
            self.ad_blocked(user),
            self.ad_impressions(user),
            self.ad_recent(user),
            self.ad_counted(user),
        ]
    }
}

impl Keys {
    /// STRING: the stored response of one `Idempotency-Key` of this caller.
    pub fn idempotency_of(&self, caller: Caller, key_hash: &str) -> String {
        match caller {
            Caller::User(user) => self.idempotency(user, key_hash),
            Caller::Advertiser(id) => format!("{}{{a:{id}}}:idem:{key_hash}", self.prefix),
            Caller::Admin => format!("{}{{admin}}:idem:{key_hash}", self.prefix),
        }
    }
    /// SET of this caller's idempotency keys.
    pub fn idempotency_index_of(&self, caller: Caller) -> String {
        match caller {
            Caller::User(user) => self.idempotency_index(user),
            Caller::Advertiser(id) => format!("{}{{a:{id}}}:idem", self.prefix),
            Caller::Admin => format!("{}{{admin}}:idem", self.prefix),
        }
    }
}

/// The advertiser half. An advertiser's keys live under `{a:<id>}`, a creative's under `{cr:<id>}`,
/// a campaign's (its record, money and every report counter) under `{c:<id>}`, so that the event
/// script and every report read touch one slot. An API key is found by its SHA-256 under
/// `{ak:<hash>}`. The review queues share `{review}` and the campaign registry `{campaigns}`.
impl Keys {
    fn advertiser_key(&self, advertiser: &str, what: &str) -> String {
        self.tagged("a", advertiser, what)
    }

    fn creative_key(&self, creative: &str, what: &str) -> String {
        self.tagged("cr", creative, what)
    }

    fn campaign_key(&self, campaign: &str, what: &str) -> String {
        self.tagged("c", campaign, what)
    }

    /// STRING: the advertiser record (JSON), with the hash of its API key.
    pub fn advertiser(&self, id: &str) -> String {
        self.advertiser_key(id, "advertiser")
    }
    /// ZSET of the advertiser's creative ids, all scored 0: ordered by id, so by creation.
    pub fn advertiser_creatives(&self, id: &str) -> String {
        self.advertiser_key(id, "creatives")
    }
    /// ZSET of the advertiser's campaign ids, all scored 0 (ordered by creation).
    pub fn advertiser_campaigns(&self, id: &str) -> String {
        self.advertiser_key(id, "campaigns")
    }
    /// STRING: the id of the advertiser whose API key has this SHA-256 (hex).
    pub fn api_key(&self, key_hash: &str) -> String {
        format!("{}{{ak:{key_hash}}}:advertiser", self.prefix)
    }

    /// STRING: the creative record (JSON).
    pub fn creative(&self, id: &str) -> String {
        self.creative_key(id, "creative")
    }
    /// STRING: the 1080×1920 JPEG.
    pub fn creative_media(&self, id: &str) -> String {
        self.creative_key(id, "media")
    }
    /// STRING: the thumbnail JPEG.
    pub fn creative_thumb(&self, id: &str) -> String {
        self.creative_key(id, "thumb")
    }
    /// STRING: an outside bid's image, fetched from the bidder's URL and normalised to 1080×1920;
    /// `id` is a hash of the URL. Expires after `ads.openrtb.image_cache_secs`.
    pub fn outside_image(&self, id: &str) -> String {
        self.tagged("rtb-img", id, "media")
    }
    /// STRING: its thumbnail.
    pub fn outside_thumb(&self, id: &str) -> String {
        self.tagged("rtb-img", id, "thumb")
    }
    /// HASH viewer pseudonym → reason: viewers' reports of the creative since its last review.
    pub fn creative_reports(&self, id: &str) -> String {
        self.creative_key(id, "reports")
    }
    /// ZSET of the creative ids in one review state (`pending_review`, `approved`, `rejected`),
    /// all scored 0 (ordered by creation).
    pub fn creatives_in_review_state(&self, status: &str) -> String {
        format!("{}{{review}}:{status}", self.prefix)
    }

    /// HASH: `record` (JSON), `version` (bumped on every change), the limits the event script
    /// enforces (`budget`, `daily_budget`) and running totals (`spent`, `impressions`, `clicks`).
    pub fn campaign(&self, id: &str) -> String {
        self.campaign_key(id, "campaign")
    }
    /// HASH of one report bucket (`h2026112509` or `d20261125`): `impressions`, `clicks`,
    /// `spend_micros`, `hides`, `reports`. Expires `reports.retention_days` after the bucket ends.
    pub fn campaign_bucket(&self, id: &str, bucket: &str) -> String {
        self.campaign_key(id, &format!("b:{bucket}"))
    }
    /// HyperLogLog of the viewer pseudonyms with a counted impression in one bucket; same expiry.
    pub fn campaign_reach(&self, id: &str, bucket: &str) -> String {
        self.campaign_key(id, &format!("r:{bucket}"))
    }
    /// ZSET campaign id → `end_at` (ms): every campaign, so the ad index loads those not ended.
    pub fn campaign_registry(&self) -> String {
        format!("{}{{campaigns}}:registry", self.prefix)
    }
    /// STRING counter bumped on every change that can alter what is served (campaigns, reviews).
    pub fn campaigns_version(&self) -> String {
        format!("{}{{campaigns}}:version", self.prefix)
    }
    /// Pub/sub channel on which every such change is announced (the message is the new version).
    pub fn campaigns_channel(&self) -> String {
        format!("{}statusd:campaigns", self.prefix)
    }
}

/// How long a span of expiry times one tray window holds: a quarter of the default story
/// lifetime, so that a feed page reads six windows, and trays keep expired entries for at most
/// six hours.
pub const TRAY_WINDOW_MS: i64 = 6 * 60 * 60 * 1000;

/// The tray window of a story expiring at `expires_ms`.
pub fn tray_window(expires_ms: i64) -> i64 {
    expires_ms.div_euclid(TRAY_WINDOW_MS)
}

/// When tray window `window` ends, and with it the key that holds it.
pub fn tray_window_end(window: i64) -> i64 {
    (window + 1) * TRAY_WINDOW_MS
}

/// The Redis Cluster hash slot of `key`: CRC16 (XMODEM) of its hash tag, modulo 16384.
pub fn slot(key: &str) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(hash_tag(key).as_bytes()) % 16384
}

/// The hash tag of a key (the text between the first `{` and the next `}`), which decides its slot.
pub fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{')
        && let Some(len) = key[open + 1..].find('}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_one_user_share_a_tag() {
        let k = Keys::new("t1:");
        for key in k.all_of_user("alice") {
            assert_eq!(hash_tag(&key), "u:alice");
        }
        assert_eq!(hash_tag(&k.idempotency("alice", "ab")), "u:alice");
        for key in k.live_trays("alice", 1_764_000_000_000, 86_400_000) {
            assert_eq!(hash_tag(&key), "u:alice");
        }
    }

    #[test]
    fn a_live_story_is_in_a_live_tray_window_that_outlives_it() {
        let k = Keys::new("t1:");
        let ttl_ms = 86_400_000;
        let now_ms = 1_764_000_000_000;
        let users = ["bob".into(), "carol".into()];
        assert_eq!(k.trays(&users, 7), [k.tray("bob", 7), k.tray("carol", 7)]);
        let live = k.live_trays("bob", now_ms, ttl_ms);
        assert_eq!(live.len(), 6, "{live:?}");
        // Stories posted at any moment of the last lifetime, each expiring later than now.
        for posted_ms in (now_ms - ttl_ms + 1..=now_ms).step_by(3_600_007) {
            let expires_ms = posted_ms + ttl_ms;
            let window = tray_window(expires_ms);
            assert!(live.contains(&k.tray("bob", window)), "posted at {posted_ms}");
            assert!(tray_window_end(window) > expires_ms);
            assert!(tray_window_end(window) - expires_ms <= TRAY_WINDOW_MS);
        }
    }

    #[test]
    fn advertiser_creative_and_campaign_keys_share_their_tags() {
        let k = Keys::new("p:");
        for key in [k.advertiser("a1"), k.advertiser_creatives("a1"), k.advertiser_campaigns("a1")] {
            assert_eq!(hash_tag(&key), "a:a1");
        }
        assert_eq!(hash_tag(&k.idempotency_of(Caller::Advertiser("a1"), "h")), "a:a1");
        assert_eq!(hash_tag(&k.idempotency_of(Caller::User(&"u".into()), "h")), "u:u");
        for key in [k.creative("x"), k.creative_media("x"), k.creative_thumb("x")] {
            assert_eq!(hash_tag(&key), "cr:x");
        }
        for key in [
            k.campaign("c1"),
            k.campaign_bucket("c1", "h2026112509"),
            k.campaign_reach("c1", "d20261125"),
        ] {
            assert_eq!(hash_tag(&key), "c:c1");
        }
        assert_eq!(hash_tag(&k.campaign_registry()), hash_tag(&k.campaigns_version()));
    }

    #[test]
    fn slots_are_redis_cluster_slots() {
        // As `CLUSTER KEYSLOT` answers.
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
        assert_eq!(slot("x{u:alice}:contacts"), slot("u:alice"));
    }

    #[test]
    fn keys_are_prefix_tag_and_name() {
        let k = Keys::new("p:");
        assert_eq!(k.contacts("alice"), "p:{u:alice}:contacts");
        assert_eq!(k.story("01ABC.alice"), "p:{s:01ABC.alice}:story");
        assert_eq!(k.campaign_bucket("c1", "h1"), "p:{c:c1}:b:h1");
    }

    #[test]
    fn keys_of_one_story_share_a_tag() {
        let k = Keys::new("");
        for key in k.all_of_story("01ABC") {
            assert_eq!(hash_tag(&key), "s:01ABC");
        }
    }
}
