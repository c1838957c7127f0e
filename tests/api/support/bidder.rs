//! A real OpenRTB bidder over HTTP for the `openrtb` selector's tests: an actix server on a free
//! loopback port that records every `BidRequest` it receives (headers and body), answers with one
//! native bid per request as told, and serves the bid's image.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the bidder answers; change it between requests with [`Bidder::answer`].
#[derive(Debug, Clone)]
pub struct Answer {
    /// CPM in `currency`.
    pub price: f64,
    pub currency: String,
    /// The imp the bid is for; `None`: the request's first.
    pub imp: Option<String>,
    /// Where the image is; `None`: this bidder's own `/image.png`.
    pub image_url: Option<String>,
    pub adomain: String,
    /// How long the bidder takes to answer.
    pub delay: Duration,
}

impl Default for Answer {
    fn default() -> Self {
        Answer {
            price: 5.0,
            currency: "USD".into(),
            imp: None,
            image_url: None,
            adomain: "shoes.example".into(),
            delay: Duration::ZERO,
        }
    }
}

/// A request as the bidder received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub content_type: String,
    pub openrtb_version: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Shared {
    answer: Mutex<Answer>,
    received: Mutex<Vec<Received>>,
    image: Vec<u8>,
}

pub struct Bidder {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    shared: Arc<Shared>,
}

impl Bidder {
    pub fn start() -> Bidder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let shared = Arc::new(Shared {
            image: super::images::png(540, 960),
            ..Default::default()
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/bid", web::post().to(bid))
                .route("/image.png", web::get().to(image))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Bidder { base, shared }
    }

    /// The endpoint `ads.openrtb.bidders` names.
    pub fn endpoint(&self) -> String {
        format!("{}/bid", self.base)
    }

    /// `host:port`, as `ads.openrtb.image_hosts` lists it.
    pub fn host(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    pub fn answer(&self, answer: Answer) {
        *self.shared.answer.lock().unwrap() = answer;
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }
}

async fn bid(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    shared.received.lock().unwrap().push(Received {
        content_type: header("content-type"),
        openrtb_version: header("x-openrtb-version"),
        body: body.clone(),
    });
    let answer = shared.answer.lock().unwrap().clone();
    tokio::time::sleep(answer.delay).await;
    let request: Value = serde_json::from_str(&body).unwrap_or_default();
    let imp = answer
        .imp
        .unwrap_or_else(|| request["imp"][0]["id"].as_str().unwrap_or("1").to_owned());
    let host = req.connection_info().host().to_owned();
    let image = answer.image_url.unwrap_or(format!("http://{host}/image.png"));
    let adm = json!({"ver": "1.2", "assets": [
        {"id": 1, "title": {"text": "Shoes that last"}},
        {"id": 2, "img": {"url": image, "w": 1080, "h": 1920}},
        {"id": 3, "data": {"value": "Shop now"}},
    ], "link": {"url": "https://shoes.example/buy"}});
    HttpResponse::Ok().json(json!({
        "id": request["id"],
        "cur": answer.currency,
        "seatbid": [{"seat": "seat-1", "bid": [{
            "id": "bid-1", "impid": imp, "price": answer.price, "adm": adm.to_string(),
            "adomain": [answer.adomain], "crid": "creative-9",
        }]}],
    }))
}

async fn image(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().content_type("image/png").body(shared.image.clone())
}
