//! `Idempotency-Key` records: a creating request claims its key, then keeps its answer for a day,
//! or lets the key go when it failed.

use crate::auth::Caller;
use crate::error::Result;
use crate::store::Store;
pub use crate::store::idempotency::IdempotencyClaim;

/// How long a claim holds while its request runs: far longer than any request takes.
const CLAIM_MS: u64 = 60_000;
/// How long an answer is kept for replays.
const KEEP_MS: u64 = 24 * 3600 * 1000;

/// Claims the key (by its hash) for this caller, or says what an earlier request with it did.
pub async fn begin(store: &Store, caller: Caller<'_>, key_hash: &str) -> Result<IdempotencyClaim> {
    store.idempotency_begin(caller, key_hash, CLAIM_MS, KEEP_MS).await
}

/// Keeps the claimed key's answer for replays.
pub async fn finish(store: &Store, caller: Caller<'_>, key_hash: &str, response: &str) -> Result<()> {
    store.idempotency_finish(caller, key_hash, response, KEEP_MS).await
}

/// Lets the key go: its request failed, and a retry may use it.
pub async fn release(store: &Store, caller: Caller<'_>, key_hash: &str) -> Result<()> {
    store.idempotency_release(caller, key_hash).await
}
