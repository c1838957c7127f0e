//! Realistic data, put in through the public API of a running statusd, as clients would.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use statusd::auth::UserTokens;

/// Requests in flight while seeding.
const SEED_CONCURRENCY: usize = 16;

pub type Result<T> = std::result::Result<T, String>;

pub struct Api {
    base: String,
    client: Client,
    tokens: UserTokens,
    admin_token: String,
}

/// Who is in the data set, by role.
pub struct Population {
    /// Viewers with 50 contacts, each of whom has 2 live stories.
    pub viewers: Vec<String>,
    /// The stories every viewer may see.
    pub stories: Vec<String>,
    /// Authors with 1,000 contacts, who post during the run.
    pub posters: Vec<String>,
    /// Authors with 50 contacts (who have them back), who post during the run, many at once.
    pub small_posters: Vec<String>,
    /// Viewers with 10, 100, 1,000 and 5,000 contacts, every one of whom has 2 live stories.
    pub contact_table: Vec<ContactTableRow>,
}

pub struct ContactTableRow {
    pub viewer: String,
    pub contacts: usize,
}

/// The shape of the data set.
pub struct Shape {
    pub viewers: usize,
    pub authors: usize,
    pub stories_per_author: usize,
    pub posters: usize,
    pub poster_contacts: usize,
    pub small_posters: usize,
    pub small_poster_contacts: usize,
    pub advertisers: usize,
    pub campaigns_per_advertiser: usize,
}

/// Contact lists by which each of `posters` lists every one of `contacts`, and each contact every
/// poster.
fn each_listing_the_other(posters: &[String], contacts: &[String]) -> Vec<(String, Vec<String>)> {
    let theirs = posters.iter().map(|p| (p.clone(), contacts.to_vec()));
    theirs.chain(contacts.iter().map(|c| (c.clone(), posters.to_vec()))).collect()
}

/// A text of the length of a typical text status.
pub fn story_text(n: usize) -> String {
    format!("Morning run along the river, 10 km in 52 minutes. Coffee next! #{n}")
}

impl Api {
    pub fn new(base: String, jwt_secret: &str, admin_token: String) -> Api {
        Api {
            base,
            client: Client::new(),
            tokens: UserTokens::new(jwt_secret),
            admin_token,
        }
    }

    pub fn token(&self, user: &str) -> String {
        self.tokens.issue(user, 86_400).expect("valid user id")
    }

    async fn expect(&self, request: reqwest::RequestBuilder, status: StatusCode, what: &str) -> Result<Value> {
        let response = request.send().await.map_err(|e| format!("{what}: {e}"))?;
        let got = response.status();
        let body = response.text().await.map_err(|e| format!("{what}: {e}"))?;
        if got != status {
            return Err(format!("{what}: expected {status}, got {got}: {body}"));
        }
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    async fn as_user(&self, method: reqwest::Method, user: &str, path: &str, body: &Value, status: StatusCode) -> Result<Value> {
        let request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token(user))
            .json(body);
        self.expect(request, status, &format!("{path} as {user}")).await
    }

    pub async fn set_contacts(&self, user: &str, contacts: &[String]) -> Result<()> {
        let body = json!({ "contacts": contacts });
        self.as_user(reqwest::Method::PUT, user, "/v1/me/contacts", &body, StatusCode::OK)
            .await
            .map(drop)
    }

    pub async fn post_text(&self, author: &str, text: &str) -> Result<String> {
        let body = json!({ "text": text, "background": "#1E88E5", "font": 2 });
        let story = self
            .as_user(reqwest::Method::POST, author, "/v1/stories", &body, StatusCode::CREATED)
            .await?;
        story["id"].as_str().map(str::to_owned).ok_or_else(|| "story without id".into())
    }

    pub async fn feed(&self, viewer: &str) -> Result<Value> {
        let request = self
            .client
            .get(format!("{}/v1/feed?limit=20", self.base))
            .bearer_auth(self.token(viewer));
        self.expect(request, StatusCode::OK, "feed").await
    }

    /// Sets many contact lists at once.
    async fn set_all_contacts(&self, lists: Vec<(String, Vec<String>)>) -> Result<()> {
        stream::iter(lists)
            .map(|(user, contacts)| async move { self.set_contacts(&user, &contacts).await })
            .buffer_unordered(SEED_CONCURRENCY)
            .try_collect()
            .await
    }

    /// One advertiser with one approved creative and `campaigns` running campaigns that target
    /// anyone, with bids spread so that the auction has an order to find.
    async fn advertiser(&self, n: usize, campaigns: usize, creative_jpeg: &[u8]) -> Result<()> {
        let admin = |path: &str| self.client.post(format!("{}{path}", self.base)).bearer_auth(&self.admin_token);
        let account = self
            .expect(
                admin("/v1/admin/advertisers").json(&json!({"name": format!("Advertiser {n}")})),
                StatusCode::CREATED,
                "advertiser",
            )
            .await?;
        let key = account["api_key"].as_str().ok_or("advertiser without key")?.to_owned();
        let form = Form::new()
            .part("image", Part::bytes(creative_jpeg.to_vec()).file_name("creative.jpg"))
            .text("headline", format!("Offer number {n}"))
            .text("cta_label", "Shop now")
            .text("cta_url", format!("https://shop{n}.example.com/"));
        let upload = self
            .client
            .post(format!("{}/v1/creatives", self.base))
            .bearer_auth(&key)
            .multipart(form);
        let creative = self.expect(upload, StatusCode::CREATED, "creative").await?;
        let creative = creative["id"].as_str().ok_or("creative without id")?.to_owned();
        let review = admin(&format!("/v1/admin/creatives/{creative}/review")).json(&json!({"decision": "approve"}));
        self.expect(review, StatusCode::OK, "review").await?;
        let now = chrono::Utc::now();
        for c in 0..campaigns {
            let body = json!({
                "name": format!("Campaign {n}-{c}"),
                "creative_ids": [creative],
                "targeting": {"countries": [], "languages": [], "interests": []},
                "bid_cpm_micros": 1_000_000 + 10_000 * (n * campaigns + c) as i64,
                "budget_micros": 1_000_000_000_000i64,
                "start_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
                "end_at": (now + chrono::Duration::days(30)).to_rfc3339(),
                "frequency_cap": {"impressions": 1000, "per_seconds": 60},
                "pacing": "asap",
            });
            let create = self
                .client
                .post(format!("{}/v1/campaigns", self.base))
                .bearer_auth(&key)
                .json(&body);
            self.expect(create, StatusCode::CREATED, "campaign").await?;
        }
        Ok(())
    }

    /// Seeds the whole data set and waits until the feed carries ads.
    pub async fn seed(&self, shape: &Shape, creative_jpeg: &[u8]) -> Result<Population> {
        let viewers: Vec<String> = (0..shape.viewers).map(|i| format!("viewer{i:04}")).collect();
        let authors: Vec<String> = (0..shape.authors).map(|i| format!("author{i:03}")).collect();
        let contact_table: Vec<ContactTableRow> = [10, 100, 1_000, 5_000]
            .into_iter()
            .map(|contacts| ContactTableRow {
                viewer: format!("table{contacts}"),
                contacts,
            })
            .collect();
        // The table's authors: the viewer with N contacts has the first N of them, and each of
        // them has every table viewer that lists them.
        let most = contact_table.iter().map(|row| row.contacts).max().unwrap_or(0);
        let table_authors: Vec<String> = (0..most).map(|k| format!("live{k:05}")).collect();

        // Authors and viewers are each other's contacts.
        let mut lists = Vec::new();
        for author in &authors {
            lists.push((author.clone(), viewers.clone()));
        }
        for viewer in &viewers {
            lists.push((viewer.clone(), authors.clone()));
        }
        for row in &contact_table {
            lists.push((row.viewer.clone(), table_authors[..row.contacts].to_vec()));
        }
        for (k, author) in table_authors.iter().enumerate() {
            let listed_by = contact_table.iter().filter(|row| k < row.contacts).map(|row| row.viewer.clone());
            lists.push((author.clone(), listed_by.collect()));
        }
        // Posters and their 1,000 recipients.
        let posters: Vec<String> = (0..shape.posters).map(|i| format!("poster{i:03}")).collect();
        let recipients: Vec<String> = (0..shape.poster_contacts).map(|i| format!("recipient{i:05}")).collect();
        lists.extend(each_listing_the_other(&posters, &recipients));
        // Posters with the contact list most users have, and their contacts.
        let small_posters: Vec<String> = (0..shape.small_posters).map(|i| format!("small{i:03}")).collect();
        let friends: Vec<String> = (0..shape.small_poster_contacts).map(|i| format!("friend{i:03}")).collect();
        lists.extend(each_listing_the_other(&small_posters, &friends));
        self.set_all_contacts(lists).await?;

        let posts: Vec<(String, usize)> = authors
            .iter()
            .flat_map(|a| (0..shape.stories_per_author).map(move |n| (a.clone(), n)))
            .collect();
        let stories: Vec<String> = stream::iter(posts)
            .map(|(author, n)| async move { self.post_text(&author, &story_text(n)).await })
            .buffered(SEED_CONCURRENCY)
            .try_collect()
            .await?;
        let table_posts = table_authors.iter().flat_map(|a| (0..2).map(move |n| (a.clone(), n)));
        let _: Vec<String> = stream::iter(table_posts)
            .map(|(author, n)| async move { self.post_text(&author, &story_text(n)).await })
            .buffer_unordered(SEED_CONCURRENCY)
            .try_collect()
            .await?;

        for a in 0..shape.advertisers {
            self.advertiser(a, shape.campaigns_per_advertiser, creative_jpeg).await?;
        }
        self.wait_for_ads(&viewers[0]).await?;
        Ok(Population {
            viewers,
            stories,
            posters,
            small_posters,
            contact_table,
        })
    }

    /// Waits until the instance's campaign index serves ads.
    async fn wait_for_ads(&self, viewer: &str) -> Result<()> {
        for _ in 0..200 {
            let feed = self.feed(viewer).await?;
            let ads = feed["items"]
                .as_array()
                .map_or(0, |items| items.iter().filter(|i| i["type"] == "ad").count());
            if ads > 0 {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err("the feed never carried ads".into())
    }
}
