//! Request extractors whose rejections are problem+json [`ApiError`]s naming the field at fault.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};

use crate::error::ApiError;

/// A JSON body; a missing or mistyped field is a 422 naming it.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// Query parameters; a mistyped one is a 422 naming it.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Path parameters; a malformed id is a 404 (no such thing exists).
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// The field serde complains about, from messages such as ``missing field `name` `` or
/// ``lat: invalid type: string "x", expected f64``.
fn field_of(message: &str) -> Option<String> {
    if let Some(rest) = message.split("field `").nth(1) {
        return rest.split('`').next().map(str::to_owned);
    }
    let head = message.split(": ").next()?;
    let looks_like_path =
        !head.is_empty() && head.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
    looks_like_path.then(|| head.to_owned())
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => {
                let text = e.body_text();
                let message =
                    text.trim_start_matches("Failed to deserialize the JSON body into the target type: ");
                ApiError::bad_body(message.to_owned(), field_of(message))
            }
            JsonRejection::JsonSyntaxError(e) => ApiError::malformed(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::unsupported_media_type(),
            JsonRejection::BytesRejection(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::payload_too_large()
            }
            other => ApiError::malformed(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        let text = r.body_text();
        let message = text.trim_start_matches("Failed to deserialize query string: ");
        match field_of(message) {
            Some(field) => ApiError::invalid(&field, message.to_owned()),
            None => ApiError::malformed(message.to_owned()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::not_found(&r.body_text())
    }
}

/// A JSON body that may be absent (an empty body): for actions whose parameters are all optional.
pub struct OptionalJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::malformed(e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        serde_json::from_slice(&bytes).map(|v| OptionalJson(Some(v))).map_err(|e| {
            let message = e.to_string();
            let field = message.split("field `").nth(1).and_then(|r| r.split('`').next()).map(str::to_owned);
            ApiError::bad_body(message, field)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_are_found_in_serde_messages() {
        assert_eq!(super::field_of("missing field `name` at line 1 column 2").as_deref(), Some("name"));
        assert_eq!(super::field_of("lat: invalid type: string \"x\", expected f64").as_deref(), Some("lat"));
        assert_eq!(super::field_of("expected value at line 1 column 1"), None);
    }
}
