//! Loading the settings (file, then environment) and checking every value a handler relies on.

use super::*;
use std::path::Path;

/// A setting that stops start-up, with the name of the setting in the message.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// The largest JSON body of a request that may carry a list of user ids (a contact list, an
    /// audience): `http.json_limit_bytes`, or more when a list of `users.max_contacts` ids of the
    /// longest length needs more — a list the service accepts must also fit its body limit.
    pub fn user_list_body_limit(&self) -> usize {
        let quoted_id = crate::ids::MAX_USER_ID_LEN + 3; // "id",
        let longest_list = self.users.max_contacts * quoted_id + 1024;
        self.http.json_limit_bytes.max(longest_list)
    }

    /// Loads the optional file, then the environment (`STATUSD_<SECTION>__<KEY>`), then validates.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!("config file {} does not exist", path.display())));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        let env: std::collections::HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("STATUSD_") && k != "STATUSD_CONFIG")
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("STATUSD")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        let settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every value a handler relies on; the message names the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |name: &str, why: &str| Err(ConfigError(format!("{name}: {why}")));
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return fail("listen", "expected an address like 127.0.0.1:8080");
        }
        match &self.auth.jwt_secret {
            None => return fail("auth.jwt_secret", "required (set STATUSD_AUTH__JWT_SECRET)"),
            Some(s) if s.expose_secret().len() < 16 => return fail("auth.jwt_secret", "must be at least 16 bytes"),
            _ => {}
        }
        if matches!(&self.auth.admin_token, Some(t) if t.expose_secret().len() < 16) {
            return fail("auth.admin_token", "must be at least 16 bytes when set");
        }
        if self.redis.cluster_nodes.is_empty()
            && !self.redis.url.starts_with("redis://")
            && !self.redis.url.starts_with("rediss://")
            && !self.redis.url.starts_with("unix://")
        {
            return fail("redis.url", "expected a redis:// URL");
        }
        if let Some(bad) = self
            .redis
            .cluster_nodes
            .iter()
            .find(|n| !n.starts_with("redis://") && !n.starts_with("rediss://"))
        {
            return fail("redis.cluster_nodes", &format!("{bad:?} is not a redis:// URL"));
        }
        if self.redis.key_prefix.contains(['{', '}']) {
            return fail("redis.key_prefix", "must not contain { or } (they would change hash slots)");
        }
        if self.redis.connect_timeout_ms == 0 || self.redis.response_timeout_ms == 0 {
            return fail("redis.connect_timeout_ms / redis.response_timeout_ms", "must be positive");
        }
        if self.stories.ttl_secs == 0 {
            return fail("stories.ttl_secs", "must be positive");
        }
        if self.stories.max_active_per_author == 0 {
            return fail("stories.max_active_per_author", "must be positive");
        }
        if self.stories.reactions.is_empty() {
            return fail("stories.reactions", "must list at least one emoji");
        }
        if self.http.json_limit_bytes < 1024 {
            return fail("http.json_limit_bytes", "must be at least 1024");
        }
        if self.media.max_concurrent == 0 {
            return fail("media.max_concurrent", "must be positive");
        }
        if self.media.max_buffered_uploads == 0 {
            return fail("media.max_buffered_uploads", "must be positive");
        }
        if self.media.max_upload_bytes == 0 || self.media.max_pixels == 0 || self.media.max_side == 0 {
            return fail("media.max_upload_bytes / media.max_pixels / media.max_side", "must be positive");
        }
        if self.users.max_contacts == 0 {
            return fail("users.max_contacts", "must be positive");
        }
        if self.ads.reserve_cpm_micros < 0 {
            return fail("ads.reserve_cpm_micros", "must not be negative");
        }
        if self.ads.deadline_ms == 0 || self.ads.token_ttl_secs == 0 || self.ads.reports_to_review == 0 {
            return fail("ads.deadline_ms / ads.token_ttl_secs / ads.reports_to_review", "must be positive");
        }
        if matches!(&self.ads.token_secret, Some(t) if t.expose_secret().len() < 16) {
            return fail("ads.token_secret", "must be at least 16 bytes when set");
        }
        if self.ads.interval == 0 {
            return fail("ads.interval", "must be positive");
        }
        if self.ads.cta_labels.is_empty() || self.ads.cta_labels.iter().any(|l| l.trim() != l || l.chars().count() > 30) {
            return fail("ads.cta_labels", "must list at least one label of 1-30 characters");
        }
        if let Some((setting, problem)) = self.ads.openrtb.problem() {
            return fail(setting, problem);
        }
        if self.ads.selector == SelectorName::Openrtb && self.ads.openrtb.bidders.is_empty() {
            return fail("ads.openrtb.bidders", "the openrtb selector needs at least one bidder");
        }
        if !(1..=3660).contains(&self.reports.retention_days) {
            return fail("reports.retention_days", "must be 1-3660");
        }
        Ok(())
    }
}
