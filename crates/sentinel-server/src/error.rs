//! The one API error type: every failure leaves the server as `application/problem+json` (RFC 9457)
//! with a stable machine `code`, a Chinese `title` (English in `title_en`) and, for bad input, the
//! `field` at fault. Internal details are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sentinel_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Problem {
    /// `urn:sentinel:problem:{code}`
    #[serde(rename = "type")]
    pub kind: String,
    /// Stable machine code, e.g. `invalid_field`, `out_of_scope`.
    pub code: &'static str,
    pub status: u16,
    /// 简体中文标题
    pub title: &'static str,
    pub title_en: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request field at fault, for bad input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    title_en: &'static str,
    detail: Option<String>,
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, title: &'static str, title_en: &'static str) -> Self {
        Self { status, code, title, title_en, detail: None, field: None }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// A field of the request is invalid; `detail` says why (the domain errors say it in zh and en).
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        let mut e =
            Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "请求字段无效", "Invalid field");
        e.field = Some(field.to_owned());
        e.detail = Some(detail.into());
        e
    }

    pub fn bad_body(detail: impl Into<String>, field: Option<String>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "请求内容无效",
            "Invalid request body",
        );
        e.field = field;
        e.detail = Some(detail.into());
        e
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", "请求格式错误", "Malformed request")
            .with_detail(detail)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "请使用 application/json",
            "Use Content-Type: application/json",
        )
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "请求内容过大",
            "Request body too large",
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "未登录或令牌无效",
            "Not signed in or token invalid",
        )
    }

    pub fn login_failed() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "login_failed", "用户名或密码错误", "Wrong username or password")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "您的角色无权执行此操作", "Your role may not do this")
    }

    pub fn out_of_scope() -> Self {
        Self::new(StatusCode::FORBIDDEN, "out_of_scope", "不在您的管辖范围内", "Outside your scope")
    }

    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "缺少或错误的CSRF令牌",
            "Missing or wrong CSRF token",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "未找到", "Not found").with_detail(what.to_owned())
    }

    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "route_not_found", "接口不存在", "No such route")
    }

    pub fn conflict(field: &str) -> Self {
        let mut e = Self::new(StatusCode::CONFLICT, "conflict", "记录已存在", "Already exists");
        e.field = Some(field.to_owned());
        e
    }

    /// A closed case is read-only: no re-run, no apply.
    pub fn case_closed() -> Self {
        Self::new(StatusCode::CONFLICT, "case_closed", "病例已结案，不能再修改", "The case is closed")
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "服务暂不可用", "Service unavailable")
            .with_detail(detail)
    }

    /// Posters cannot be rendered: no font that writes Chinese.
    pub fn no_cjk_font(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cjk_font_missing",
            "未找到中文字体",
            "No CJK font installed",
        )
        .with_detail(detail)
    }

    /// Too many requests of one kind (one-time codes).
    pub fn rate_limited(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "请求过于频繁，请稍后再试",
            "Too many requests",
        )
        .with_detail(detail)
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "服务器内部错误", "Internal server error")
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The Chinese and English titles and the detail, for pages that show the error to a person.
    pub fn texts(&self) -> (&'static str, &'static str, Option<&str>) {
        (self.title, self.title_en, self.detail.as_deref())
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:sentinel:problem:{}", self.code),
            code: self.code,
            status: self.status.as_u16(),
            title: self.title,
            title_en: self.title_en,
            detail: self.detail.clone(),
            field: self.field.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.problem())).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("record"),
            StoreError::Conflict(what) => ApiError::conflict(&what),
            StoreError::Reference(what) => {
                ApiError::invalid(&what, "引用的记录不存在 / the referenced record does not exist")
            }
            other => {
                tracing::error!(error = %other, "store error");
                if matches!(other, StoreError::Backend(_)) {
                    ApiError::unavailable("数据库暂不可用 / the database is unavailable")
                } else {
                    ApiError::internal()
                }
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
