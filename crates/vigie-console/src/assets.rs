//! The console's scripts and stylesheet, compiled into the binary.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "htmx-2.0.11.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/htmx-2.0.11.min.js"),
    ),
    (
        "htmx-ext-sse-2.2.4.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/htmx-ext-sse-2.2.4.js"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/console.css"),
    ),
];

pub async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, bytes)) => {
            let mut resp = (*bytes).into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            resp
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Total bytes of the assets a page loads (for the page-weight benchmark).
pub fn total_bytes() -> usize {
    ASSETS.iter().map(|(_, _, b)| b.len()).sum()
}
