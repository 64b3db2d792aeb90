//! The HTTP side of md-serve: the web page at `/`, its JSON and Server-Sent-Events API,
//! `/metrics` and `/healthz`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;

use crate::auth::Token;
use crate::error::ServeError;
use crate::hub::{Ask, Hub};

/// The page: one self-contained file, no external resources.
const PAGE: &str = include_str!("../web/index.html");

/// What the process adds to `/metrics` and `/healthz` (md-ingest's venue and sink counters).
pub trait ProcessHealth: Send + Sync {
    /// More Prometheus text for `/metrics`.
    fn metrics(&self) -> String;
    /// `Err(why)` when a part of the process cannot do its job.
    fn health(&self) -> Result<(), String>;
}

#[derive(Clone)]
struct AppState {
    hub: Arc<Hub>,
    token: Token,
    process: Option<Arc<dyn ProcessHealth>>,
}

/// The HTTP routes over `hub`.
pub fn router(hub: Arc<Hub>, token: Token, process: Option<Arc<dyn ProcessHealth>>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/symbols", get(symbols))
        .route("/api/book", get(book))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(AppState { hub, token, process })
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

fn error(code: StatusCode, e: &ServeError) -> Response {
    (code, Json(serde_json::json!({ "error": e.to_string() }))).into_response()
}

fn code_of(e: &ServeError) -> StatusCode {
    match e {
        ServeError::NotFound { .. } | ServeError::NotRecorded { .. } => StatusCode::NOT_FOUND,
        ServeError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
        ServeError::TooManyClients { .. } => StatusCode::SERVICE_UNAVAILABLE,
        ServeError::Unauthenticated => StatusCode::UNAUTHORIZED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Browsers' EventSource cannot set headers, so the page may pass the token as `?token=`.
/// `Some(refusal)` when the request lacks the token.
fn refusal(state: &AppState, headers: &HeaderMap, query_token: Option<&str>) -> Option<Response> {
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let result = match (header, query_token) {
        (Some(h), _) => state.token.check_header(Some(h)),
        (None, given) => state.token.check(given),
    };
    result.err().map(|e| error(StatusCode::UNAUTHORIZED, &e))
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn symbols(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<TokenQuery>) -> Response {
    if let Some(refused) = refusal(&state, &headers, q.token.as_deref()) {
        return refused;
    }
    let symbols: Vec<serde_json::Value> = state
        .hub
        .symbols()
        .await
        .into_iter()
        .map(|(s, venues)| {
            serde_json::json!({"symbol": s.to_string(), "exchanges": venues.iter().map(|v| v.as_str()).collect::<Vec<_>>()})
        })
        .collect();
    Json(serde_json::json!({ "symbols": symbols })).into_response()
}

#[derive(Debug, Deserialize)]
struct BookQuery {
    symbol: Option<String>,
    depth: Option<String>,
    venues: Option<String>,
    token: Option<String>,
}

async fn book(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<BookQuery>) -> Response {
    if let Some(refused) = refusal(&state, &headers, q.token.as_deref()) {
        return refused;
    }
    let Some(symbol) = q.symbol.filter(|s| !s.trim().is_empty()) else {
        let e = ServeError::InvalidArgument("give ?symbol=BTC-USDT (or btcusdt)".into());
        return error(StatusCode::BAD_REQUEST, &e);
    };
    let depth = match q.depth.as_deref().map(str::parse::<u32>) {
        None => 0,
        Some(Ok(d)) => d,
        Some(Err(_)) => {
            let e = ServeError::InvalidArgument(format!(
                "depth {:?} is not a number of rows",
                q.depth.unwrap_or_default()
            ));
            return error(StatusCode::BAD_REQUEST, &e);
        }
    };
    let venues = q
        .venues
        .map(|v| v.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let client = match state.hub.open(&Ask { symbol, depth, venues }).await {
        Ok(client) => client,
        Err(e) => return error(code_of(&e), &e),
    };
    let events = crate::stream::summaries(client, crate::convert::shared_json)
        .map(|json| Ok::<_, Infallible>(Event::default().event("summary").data(json)));
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.hub.metrics().render();
    if let Some(process) = &state.process {
        text.push_str(&process.metrics());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.process.as_ref().map_or(Ok(()), |p| p.health()) {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}
