//! The page frame (header, language switch, demo banner), the stylesheet and script, the language a
//! person reads in, and error pages that say in Chinese and English what went wrong (never a trace).

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

pub const LANG_COOKIE: &str = "sentinel_lang";

/// The reader's language: Chinese unless they switched to English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The text in the reader's language.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    fn html_lang(self) -> &'static str {
        self.t("zh-CN", "en")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(if crate::auth::cookie(parts, LANG_COOKIE) == Some("en") { Lang::En } else { Lang::Zh })
    }
}

#[derive(Debug, Deserialize)]
pub struct SwitchQuery {
    to: String,
    back: Option<String>,
}

/// `/lang?to=en&back=/r/code`: remembers the choice and goes back.
pub async fn switch_language(Query(q): Query<SwitchQuery>) -> Response {
    let lang = if q.to == "en" { "en" } else { "zh" };
    let back = q.back.as_deref().filter(|b| is_local_path(b)).unwrap_or("/r/");
    (
        [(header::SET_COOKIE, format!("{LANG_COOKIE}={lang}; Path=/; Max-Age=31536000; SameSite=Lax"))],
        Redirect::to(back),
    )
        .into_response()
}

/// A path on this site (never `//host` or `https://…`): where a sign-in may send the person back to.
/// Only visible ASCII: browsers drop tabs and newlines from URLs, so `/\t/host` would become `//host`.
pub fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && p.len() <= 512
        && p.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Percent-encodes a path for a query parameter.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A resident ID number typed into a form, or a page saying what is wrong with it.
pub fn parse_id_number(state: &AppState, raw: &str) -> PageResult<sentinel_core::ResidentIdNumber> {
    sentinel_core::ResidentIdNumber::parse(raw.trim(), state.local(state.now()).date_naive())
        .map_err(|e| PageError::bad_input(format!("身份证号码无效：{e}"), format!("Invalid ID number: {e}")))
}

/// A whole page: `path` is where the language switch comes back to.
pub fn page(state: &AppState, lang: Lang, path: &str, title: &str, body: Markup) -> Html<String> {
    let other = match lang {
        Lang::Zh => ("en", "English"),
        Lang::En => ("zh", "中文"),
    };
    Html(
        html! {
            (DOCTYPE)
            html lang=(lang.html_lang()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · " (state.city_name) }
                    link rel="stylesheet" href="/assets/site.css";
                    script src="/assets/site.js" defer {}
                }
                body {
                    header.bar {
                        span.brand { (state.city_name) }
                        a.lang href={ "/lang?to=" (other.0) "&back=" (encode(path)) } { (other.1) }
                    }
                    @if state.demo_banner {
                        div.demo { (lang.t("演示系统：数据均为虚构", "Demo deployment: all data is made up")) }
                    }
                    main { (body) }
                }
            }
        }
        .into_string(),
    )
}

/// An error shown to a person: a status, a Chinese and an English sentence, and where to go next.
/// Boxed: results of pages pass it around, and it is rare.
#[derive(Debug)]
pub struct PageError(Box<PageProblem>);

#[derive(Debug)]
pub struct PageProblem {
    pub status: StatusCode,
    pub code: &'static str,
    pub zh: String,
    pub en: String,
    /// A link onwards (href, zh, en).
    pub next: Option<(String, &'static str, &'static str)>,
}

pub type PageResult<T> = Result<T, PageError>;

impl PageError {
    pub fn new(status: StatusCode, code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self(Box::new(PageProblem { status, code, zh: zh.into(), en: en.into(), next: None }))
    }

    pub fn problem(&self) -> &PageProblem {
        &self.0
    }

    pub fn bad_input(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", zh, en)
    }

    pub fn with_next(mut self, href: impl Into<String>, zh: &'static str, en: &'static str) -> Self {
        self.0.next = Some((href.into(), zh, en));
        self
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        let (zh, en, detail) = e.texts();
        let (zh, en) = match detail {
            // Details are written "中文 / English".
            Some(d) => match d.split_once(" / ") {
                Some((dzh, den)) => (format!("{zh}：{dzh}"), format!("{en}: {den}")),
                None => (format!("{zh}：{d}"), format!("{en}: {d}")),
            },
            None => (zh.to_owned(), en.to_owned()),
        };
        Self::new(e.status(), e.code(), zh, en)
    }
}

impl From<sentinel_store::StoreError> for PageError {
    fn from(e: sentinel_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let p = self.0;
        let body = html! {
            (DOCTYPE)
            html lang="zh-CN" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { "出错了 · Error" }
                    link rel="stylesheet" href="/assets/site.css";
                }
                body {
                    main.error data-code=(p.code) {
                        h1 { (p.zh) }
                        p.en { (p.en) }
                        @if let Some((href, zh, en)) = &p.next {
                            p { a.button href=(href) { (zh) " / " (en) } }
                        }
                        p { a href="/r/" { "返回首页 / Home" } }
                    }
                }
            }
        };
        (p.status, Html(body.into_string())).into_response()
    }
}

/// An inline SVG (a QR code) placed as markup.
pub fn raw(svg: &str) -> PreEscaped<&str> {
    PreEscaped(svg.find("<svg").map_or(svg, |i| &svg[i..]))
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        CSS,
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
}

const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;background:#f4f6f5;color:#1d1d1d;font-size:17px}
.bar{display:flex;justify-content:space-between;align-items:center;background:#1b7f3b;color:#fff;padding:10px 16px}
.bar a{color:#fff}.brand{font-weight:bold}
.demo{background:#fff3cd;color:#6b4e00;padding:6px 16px;font-size:14px}
main{max-width:520px;margin:0 auto;padding:16px}
h1{font-size:22px}h2{font-size:19px}
form{display:flex;flex-direction:column;gap:10px;margin:12px 0}
label{display:flex;flex-direction:column;gap:4px;font-size:15px}
input,select{font-size:18px;padding:10px;border:1px solid #bbb;border-radius:8px}
button,.button{font-size:18px;padding:12px;border:0;border-radius:8px;background:#1b7f3b;color:#fff;text-decoration:none;text-align:center;display:inline-block}
button.secondary{background:#666}
.card{background:#fff;border-radius:12px;padding:16px;margin:12px 0;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.notice{background:#e8f4ec;border-left:4px solid #1b7f3b;padding:8px 12px}
.problem{background:#fdecea;border-left:4px solid #c62828;padding:8px 12px}
.en{color:#555;font-size:15px}
nav.links{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}nav.links a{padding:6px 10px;background:#fff;border-radius:6px;color:#1b7f3b}
.qr svg{width:100%;max-width:320px;height:auto;display:block;margin:0 auto}
.colour-green{--c:#1b9e4b}.colour-yellow{--c:#e0a800}.colour-red{--c:#c62828}.colour-none{--c:#777}
.code{border:6px solid var(--c);border-radius:16px;background:#fff;padding:12px;text-align:center}
.code .label{background:var(--c);color:#fff;border-radius:8px;padding:6px;font-size:20px;font-weight:bold}
.result{border-radius:16px;color:#fff;background:var(--c);padding:20px;text-align:center;margin:12px 0;position:relative;overflow:hidden}
.result .verdict{font-size:34px;font-weight:bold;margin:6px 0}
.result .venue{font-size:22px;font-weight:bold}
.result .clock{font-size:30px;font-variant-numeric:tabular-nums;letter-spacing:1px}
.result .en{color:rgba(255,255,255,.9)}
.result .pulse{width:64px;height:64px;border-radius:50%;background:rgba(255,255,255,.85);margin:8px auto;animation:pulse 1.2s ease-in-out infinite}
@keyframes pulse{0%{transform:scale(.7);opacity:.5}50%{transform:scale(1);opacity:1}100%{transform:scale(.7);opacity:.5}}
table{width:100%;border-collapse:collapse;background:#fff}td,th{padding:8px;border-bottom:1px solid #eee;text-align:left;font-size:15px}
.error h1{color:#c62828}
"#;

const SCRIPT: &str = r#"
// Running clock on the result page: staff see the seconds move, so a screenshot is recognisable as one.
// It runs on the server's clock (data-server, ms) in the city's zone (data-clock, offset in ms).
var skew=null;
function tick(){document.querySelectorAll('[data-clock]').forEach(function(el){
  if(skew===null)skew=Number(el.dataset.server)-Date.now();
  var d=new Date(Date.now()+skew+Number(el.dataset.clock));
  var p=function(n){return String(n).padStart(2,'0')};
  el.textContent=d.getUTCFullYear()+'-'+p(d.getUTCMonth()+1)+'-'+p(d.getUTCDate())+' '+p(d.getUTCHours())+':'+p(d.getUTCMinutes())+':'+p(d.getUTCSeconds());
});}
// The health code refreshes before it expires.
function refresh(el){fetch(el.dataset.refresh,{credentials:'same-origin'}).then(function(r){return r.ok?r.json():null}).then(function(j){
  if(!j)return;el.querySelector('.qr').innerHTML=j.svg;el.dataset.token=j.token;
  var exp=el.querySelector('[data-expires]');if(exp)exp.textContent=j.expires_at;
  setTimeout(function(){refresh(el)},j.refresh_after_seconds*1000);});}
document.addEventListener('DOMContentLoaded',function(){
  if(document.querySelector('[data-clock]')){tick();setInterval(tick,1000);}
  document.querySelectorAll('[data-refresh]').forEach(function(el){setTimeout(function(){refresh(el)},Number(el.dataset.after)*1000);});
});
"#;

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        for ok in ["/r/code", "/v/AbC-_", "/r/code?person=2"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/x",
            "https://evil.example",
            "/\\evil",
            "r/code",
            "/ x",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }
}
