//! The cursors of paginated lists, in one place: opaque base64url text that the service issues in
//! `next_cursor` and reads back from `?cursor=`. Each kind of list has its own format, and a cursor
//! reads only as the kind it was issued for; anything else is a `cursor` validation error.
//!
//! - the feed: its [`Position`] as JSON (see `stories::feed` for the order);
//! - a story's viewers: `v:<offset>`, the rank of the next viewer;
//! - id-ordered lists (creatives, campaigns, the review queue): `id:<last id of the page>`.

use crate::error::{Error, Result};
use crate::ids::is_plain_id;
use crate::stories::feed::Position;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn feed(position: &Position) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

pub fn read_feed(cursor: &str) -> Result<Position> {
    open(cursor, |bytes| serde_json::from_slice(&bytes).ok())
}

pub fn viewers(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("v:{offset}"))
}

pub fn read_viewers(cursor: &str) -> Result<usize> {
    open(cursor, |bytes| text(bytes)?.strip_prefix("v:")?.parse().ok())
}

pub fn after_id(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

pub fn read_after_id(cursor: &str) -> Result<String> {
    open(cursor, |bytes| {
        text(bytes)?.strip_prefix("id:").filter(|id| is_plain_id(id)).map(str::to_owned)
    })
}

/// The cursor's bytes read by `read`; the error every bad cursor gets.
fn open<T>(cursor: &str, read: impl FnOnce(Vec<u8>) -> Option<T>) -> Result<T> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(read)
        .ok_or_else(|| Error::field("cursor", "not a cursor this service issued"))
}

fn text(bytes: Vec<u8>) -> Option<String> {
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cursor_reads_back_as_its_own_kind_only() {
        let position = Position {
            seen: true,
            latest_ms: 42,
            author: "bob".into(),
        };
        assert_eq!(read_feed(&feed(&position)).unwrap(), position);
        assert_eq!(read_viewers(&viewers(20)).unwrap(), 20);
        assert_eq!(read_after_id(&after_id("01KB")).unwrap(), "01KB");

        assert!(read_feed(&viewers(20)).is_err() && read_feed(&after_id("x")).is_err());
        assert!(read_viewers(&feed(&position)).is_err() && read_viewers(&after_id("x")).is_err());
        assert!(read_after_id(&feed(&position)).is_err() && read_after_id(&viewers(1)).is_err());
        assert!(read_after_id(&after_id("no spaces")).is_err());
        for bad in ["garbage", "", "e30", "eyJzIjp0cnVlfQ", "!!"] {
            assert!(
                read_feed(bad).is_err() && read_viewers(bad).is_err() && read_after_id(bad).is_err(),
                "{bad}"
            );
        }
    }
}
