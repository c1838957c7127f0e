//! A real OpenRTB bidder over HTTP for the `openrtb` selector's tests: an actix server on a free
//! loopback port that records every `BidRequest` it receives (headers and body), answers with one
//! native bid per request as told (or fails as told), serves the bid's image, and records the win,
//! billing and loss notices it accepts (it can refuse the first ones with 500, to be tried again).

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// 200 answers the bid; another status answers that status and no body.
    pub status: u16,
    /// Answers 200 with a body that is not a `BidResponse`.
    pub garbage: bool,
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
            status: 200,
            garbage: false,
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
    /// Notices accepted (answered 200), as path and query.
    notices: Mutex<Vec<String>>,
    /// Notices still to be refused with 500.
    refuse_notices: AtomicUsize,
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
                .route("/notice/{kind}", web::get().to(notice))
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

    /// The notices accepted so far (`/notice/win?…`, `/notice/bill?…`, `/notice/loss?…`).
    pub fn notices(&self) -> Vec<String> {
        self.shared.notices.lock().unwrap().clone()
    }

    /// The next `n` notices are answered 500.
    pub fn refuse_notices(&self, n: usize) {
        self.shared.refuse_notices.store(n, Ordering::SeqCst);
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
    if answer.status != 200 {
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(answer.status).unwrap()).finish();
    }
    if answer.garbage {
        return HttpResponse::Ok().content_type("application/json").body("{\"seatbid\": 7");
    }
    let request: Value = serde_json::from_str(&body).unwrap_or_default();
    let imp = answer
        .imp
        .unwrap_or_else(|| request["imp"][0]["id"].as_str().unwrap_or("1").to_owned());
    let host = req.connection_info().host().to_owned();
    let image = answer.image_url.unwrap_or(format!("http://{host}/image.png"));
    let notice = |kind: &str, query: &str| format!("http://{host}/notice/{kind}?{query}");
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
            "nurl": notice("win", "a=${AUCTION_ID}&b=${AUCTION_BID_ID}&i=${AUCTION_IMP_ID}&p=${AUCTION_PRICE}&c=${AUCTION_CURRENCY}"),
            "burl": notice("bill", "a=${AUCTION_ID}&p=${AUCTION_PRICE}"),
            "lurl": notice("loss", "a=${AUCTION_ID}&l=${AUCTION_LOSS}"),
        }]}],
    }))
}

async fn notice(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let refuse = shared
        .refuse_notices
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refuse {
        return HttpResponse::InternalServerError().finish();
    }
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or_default().to_owned();
    shared.notices.lock().unwrap().push(path);
    HttpResponse::Ok().finish()
}

async fn image(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().content_type("image/png").body(shared.image.clone())
}
