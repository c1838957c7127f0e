//! An OpenRTB bidder for the `openrtb` rounds of the harness (this program again, started with
//! `BIDDER_LISTEN`): answers every `BidRequest` after `BIDDER_DELAY_MS` with one native bid for its
//! first imp, over the house campaigns' bids, and serves the bid's image. `BIDDER_DELAY_MS` of
//! `never` holds every request open: a bidder that never answers.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::time::Duration;

pub struct BidderSpec {
    pub listen: String,
    /// `None`: never answers.
    pub delay: Option<Duration>,
}

impl BidderSpec {
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let delay = self.delay.map_or("never".to_owned(), |d| d.as_millis().to_string());
        vec![("BIDDER_LISTEN", self.listen.clone()), ("BIDDER_DELAY_MS", delay)]
    }

    pub fn from_env() -> Option<BidderSpec> {
        let listen = std::env::var("BIDDER_LISTEN").ok()?;
        let delay = std::env::var("BIDDER_DELAY_MS").ok()?;
        Some(BidderSpec {
            listen,
            delay: delay.parse().ok().map(Duration::from_millis),
        })
    }
}

struct Bidder {
    delay: Option<Duration>,
    image: Vec<u8>,
}

pub fn serve(spec: BidderSpec, image: Vec<u8>) -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let bidder = web::Data::new(Bidder { delay: spec.delay, image });
        HttpServer::new(move || {
            App::new()
                .app_data(bidder.clone())
                .route("/bid", web::post().to(bid))
                .route("/image.jpg", web::get().to(image_file))
        })
        .workers(1)
        .bind(&spec.listen)?
        .run()
        .await
    })
}

async fn bid(req: HttpRequest, body: web::Bytes, bidder: web::Data<Bidder>) -> HttpResponse {
    match bidder.delay {
        Some(delay) => tokio::time::sleep(delay).await,
        None => std::future::pending::<()>().await,
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let host = req.connection_info().host().to_owned();
    let adm = json!({"ver": "1.2", "assets": [
        {"id": 1, "title": {"text": "Shoes that last"}},
        {"id": 2, "img": {"url": format!("http://{host}/image.jpg"), "w": 1080, "h": 1920}},
        {"id": 3, "data": {"value": "Shop now"}},
    ], "link": {"url": "https://shoes.example/buy"}});
    HttpResponse::Ok().json(json!({
        "id": request["id"],
        "cur": "USD",
        "seatbid": [{"bid": [{"id": "b1", "impid": request["imp"][0]["id"], "price": 50.0,
            "adm": adm.to_string(), "adomain": ["shoes.example"]}]}],
    }))
}

async fn image_file(bidder: web::Data<Bidder>) -> HttpResponse {
    HttpResponse::Ok().content_type("image/jpeg").body(bidder.image.clone())
}
