//! `/v1/campaigns`: the advertiser's campaigns and their reports.

use super::auth::Advertiser;
use super::idempotency::{idempotent, never_deleted};
use super::json::JsonBody;
use super::problem::Problem;
use super::{PageQuery, State};
use crate::advertisers::campaigns::StoredCampaign;
use crate::advertisers::campaigns::{Campaign, CampaignPatch, NewCampaign};
use crate::advertisers::reports::{Granularity, Report, ReportFormat, ReportRange};
use crate::auth::Caller;
use crate::cursor;
use crate::error::{Error, Result};
use crate::services::advertisers as service;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/campaigns")
            .route(web::post().to(create_campaign))
            .route(web::get().to(list_campaigns)),
    )
    .service(
        web::resource("/v1/campaigns/{id}")
            .route(web::get().to(get_campaign))
            .route(web::patch().to(patch_campaign)),
    )
    .service(web::resource("/v1/campaigns/{id}/report").route(web::get().to(campaign_report)))
    .service(web::resource("/v1/campaigns/{id}/report.csv").route(web::get().to(campaign_report_csv)));
}

fn view(stored: &StoredCampaign) -> Campaign {
    stored.record.view(&stored.totals, Utc::now())
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Campaigns {
    pub campaigns: Vec<Campaign>,
    pub next_cursor: Option<String>,
}

/// Creates a campaign of the caller's approved creatives.
#[utoipa::path(post, path = "/v1/campaigns", tag = "campaigns", security(("advertiser" = [])), request_body = NewCampaign,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key within 24 h returns the first response")),
    responses((status = 201, body = Campaign), (status = 400, body = Problem), (status = 401, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 503, body = Problem)))]
pub async fn create_campaign(state: State, advertiser: Advertiser, req: HttpRequest, body: JsonBody<NewCampaign>) -> Result<HttpResponse> {
    let owner = &advertiser.0.id;
    let fingerprint = body.fingerprint();
    idempotent(&state, Caller::Advertiser(owner), &req, fingerprint, &[], never_deleted, async {
        let stored = service::create_campaign(&state.store, owner, body.into_inner(), Utc::now()).await?;
        Ok((
            StatusCode::CREATED,
            serde_json::to_value(view(&stored)).map_err(|e| Error::Internal(e.to_string()))?,
        ))
    })
    .await
}

/// The caller's campaigns, newest first.
#[utoipa::path(get, path = "/v1/campaigns", tag = "campaigns", security(("advertiser" = [])), params(PageQuery),
    responses((status = 200, body = Campaigns), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_campaigns(state: State, advertiser: Advertiser, query: web::Query<PageQuery>) -> Result<web::Json<Campaigns>> {
    let limit = query.limit()?;
    let after = query.cursor.as_deref().map(cursor::read_after_id).transpose()?;
    let found = service::list_campaigns(&state.store, &advertiser.0.id, after.as_deref(), limit).await?;
    Ok(web::Json(Campaigns {
        campaigns: found.items.iter().map(view).collect(),
        next_cursor: found.next_after.as_deref().map(cursor::after_id),
    }))
}

/// One of the caller's campaigns (another advertiser's is 404).
#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "campaigns", security(("advertiser" = [])),
    responses((status = 200, body = Campaign), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_campaign(state: State, advertiser: Advertiser, id: web::Path<String>) -> Result<web::Json<Campaign>> {
    Ok(web::Json(view(&service::own_campaign(&state.store, &advertiser.0.id, &id).await?)))
}

/// Changes a campaign: any field, or `{"status": "paused"|"active"}` to pause or resume. The result
/// is validated as a whole; an ended campaign is `409 campaign_completed`.
#[utoipa::path(patch, path = "/v1/campaigns/{id}", tag = "campaigns", security(("advertiser" = [])), request_body = CampaignPatch,
    responses((status = 200, body = Campaign), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn patch_campaign(
    state: State,
    advertiser: Advertiser,
    id: web::Path<String>,
    body: JsonBody<CampaignPatch>,
) -> Result<web::Json<Campaign>> {
    let stored = service::patch_campaign(&state.store, &advertiser.0.id, &id, body.into_inner(), Utc::now()).await?;
    Ok(web::Json(view(&stored)))
}

/// `?from&to&granularity&format` of a report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// RFC 3339 time or date, rounded down to its bucket; default 7 days before `to`.
    pub from: Option<String>,
    /// RFC 3339 time or date, rounded up to a bucket boundary (exclusive); default now.
    pub to: Option<String>,
    /// `hour` or `day` (default; UTC days). At most 2,208 hourly or 366 daily buckets.
    #[param(value_type = Option<Granularity>)]
    pub granularity: Option<String>,
    /// `json` (default) or `csv` (generated clients: `GET …/report.csv`, whose answer is typed CSV).
    #[param(value_type = Option<String>, pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// `?from&to&granularity` of a CSV report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CsvReportQuery {
    /// As in `GET /v1/campaigns/{id}/report`.
    pub from: Option<String>,
    /// As in `GET /v1/campaigns/{id}/report`.
    pub to: Option<String>,
    /// As in `GET /v1/campaigns/{id}/report`.
    #[param(value_type = Option<Granularity>)]
    pub granularity: Option<String>,
}

/// Impressions, clicks, CTR, unique reach, spend, hides and reports per hour or day, as JSON or CSV.
#[utoipa::path(get, path = "/v1/campaigns/{id}/report", tag = "campaigns", security(("advertiser" = [])), params(ReportQuery),
    responses((status = 200, content((Report = "application/json"), (String = "text/csv"))), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn campaign_report(
    state: State,
    advertiser: Advertiser,
    id: web::Path<String>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse> {
    let range = ReportRange::parse(
        query.from.as_deref(),
        query.to.as_deref(),
        query.granularity.as_deref(),
        query.format.as_deref(),
        Utc::now(),
    )?;
    let report = service::report(&state.store, &advertiser.0.id, &id, &range).await?;
    Ok(match range.format {
        ReportFormat::Json => HttpResponse::Ok().json(report),
        ReportFormat::Csv => csv_reply(&report),
    })
}

/// The report as CSV: the same as `?format=csv`, as an operation of its own so that a generated
/// client, which parses an operation's answer by one content type, reads it as text.
#[utoipa::path(get, path = "/v1/campaigns/{id}/report.csv", tag = "campaigns", security(("advertiser" = [])), params(CsvReportQuery),
    responses((status = 200, content_type = "text/csv", body = String, description = "a header row and one row per bucket")))]
pub async fn campaign_report_csv(
    state: State,
    advertiser: Advertiser,
    id: web::Path<String>,
    query: web::Query<CsvReportQuery>,
) -> Result<HttpResponse> {
    let CsvReportQuery { from, to, granularity } = query.into_inner();
    let format = Some("csv".to_owned());
    campaign_report(
        state,
        advertiser,
        id,
        web::Query(ReportQuery {
            from,
            to,
            granularity,
            format,
        }),
    )
    .await
}

fn csv_reply(report: &Report) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"campaign-{}-report.csv\"", report.campaign_id),
        ))
        .body(report.to_csv())
}
