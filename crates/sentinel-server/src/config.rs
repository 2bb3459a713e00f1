//! Configuration, layered: built-in defaults → TOML file (`--config`) → `SENTINEL_*` environment →
//! command-line flags (applied by the binary). Secrets are wrapped so `Debug` and logs never show them.

use chrono::FixedOffset;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A secret string: `Debug` prints `***`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How service logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Where the embedded database, the data key and generated files live.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; defaults to `sqlite://{data_dir}/sentinel.sqlite`.
    pub database_url: Option<Secret>,
    /// 64 hex characters; defaults to a key generated once into `{data_dir}/data.key`.
    pub data_key: Option<Secret>,
    /// `user:password` of the administrator created when no user exists.
    pub bootstrap_admin: Option<Secret>,
    /// The URL residents and devices reach this server at (place-code posters encode it).
    pub public_base_url: Option<String>,
    /// The city's time zone for display: an IANA name of a zone without daylight saving.
    pub timezone: String,
    /// Lifetime of a login session.
    pub session_hours: u32,
    pub log_format: LogFormat,
    /// Issuer name in every health code (CWT `iss`).
    pub issuer: String,
    /// How far device and server clocks may disagree when a code is verified.
    pub clock_skew_seconds: u32,
    /// Minutes an alert may stay unacknowledged before it goes up a level (community → street → district).
    pub escalate_after_minutes: u32,
    /// Persons whose health records and gate facts a node keeps in memory (each cache).
    pub cached_persons: usize,
    /// The deployment's name on posters and pages, e.g. "苏州市数字哨兵".
    pub city_name: String,
    /// A font file that writes Chinese for posters; by default the system's (Debian: fonts-noto-cjk).
    pub cjk_font: Option<PathBuf>,
    /// Where residents' one-time sign-in codes are sent: the city's SMS gateway (JSON POST). Without it the
    /// code is written to the server log only.
    pub sms_gateway_url: Option<String>,
    /// Demo deployments show the last one-time code on the sign-in page (never in production).
    pub demo_banner: bool,
    /// Behind a reverse proxy: take the client's address (for per-client limits) from the last hop of
    /// `X-Forwarded-For` instead of the connection, which is the proxy's.
    pub trust_forwarded_for: bool,
    /// Read the trace window's visits at start-up (about 14 bytes of memory a visit, and seconds of reading
    /// at a city's size). A node that only serves gates can leave it off: its index is then built at its
    /// first trace, if any.
    pub warm_trace_index: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("sentinel-data"),
            database_url: None,
            data_key: None,
            bootstrap_admin: None,
            public_base_url: None,
            timezone: "Asia/Shanghai".into(),
            session_hours: 12,
            log_format: LogFormat::Text,
            issuer: "sentinel".into(),
            clock_skew_seconds: 30,
            escalate_after_minutes: 15,
            cached_persons: crate::bounded::DEFAULT_CACHED_PERSONS,
            city_name: "数字哨兵".into(),
            cjk_font: None,
            sms_gateway_url: None,
            demo_banner: false,
            trust_forwarded_for: false,
            warm_trace_index: true,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &sentinel_store::redact_url(&self.database_url()))
            .field("data_key", &self.data_key)
            .field("bootstrap_admin", &self.bootstrap_admin)
            .field("public_base_url", &self.public_base_url)
            .field("timezone", &self.timezone)
            .field("session_hours", &self.session_hours)
            .field("log_format", &self.log_format)
            .field("issuer", &self.issuer)
            .field("clock_skew_seconds", &self.clock_skew_seconds)
            .field("escalate_after_minutes", &self.escalate_after_minutes)
            .field("cached_persons", &self.cached_persons)
            .field("city_name", &self.city_name)
            .field("cjk_font", &self.cjk_font)
            .field("sms_gateway_url", &self.sms_gateway_url.as_deref().map(sentinel_store::redact_url))
            .field("demo_banner", &self.demo_banner)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("warm_trace_index", &self.warm_trace_index)
            .finish()
    }
}

/// A true/false environment value.
fn flag(value: &str) -> Result<bool, String> {
    match value {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        other => Err(format!("{other}: expected true or false")),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("无法读取配置文件 {path}: {source} / cannot read config file")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("配置文件 {path} 格式错误 / config file is invalid: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("环境变量 {name} 无效 / environment variable {name} is invalid: {message}")]
    Env { name: String, message: String },
    #[error(
        "不支持的时区 {0} / unsupported time zone {0}: use a zone without daylight saving such as Asia/Shanghai, or UTC"
    )]
    TimeZone(String),
}

/// IANA zones without daylight saving that Chinese deployments use, and their offsets in hours.
const TIME_ZONES: &[(&str, i32)] = &[
    ("Asia/Shanghai", 8),
    ("Asia/Chongqing", 8),
    ("Asia/Harbin", 8),
    ("Asia/Hong_Kong", 8),
    ("Asia/Macau", 8),
    ("Asia/Taipei", 8),
    ("Asia/Urumqi", 6),
    ("UTC", 0),
];

impl Config {
    /// Defaults, then the TOML file if given, then `SENTINEL_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError::Toml { path: path.to_owned(), message: e.to_string() })?
            }
            None => Config::default(),
        };
        for (name, value) in env {
            config.apply_env(&name, value)?;
        }
        config.utc_offset()?;
        Ok(config)
    }

    fn apply_env(&mut self, name: &str, value: String) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::Env { name: name.to_owned(), message };
        match name {
            "SENTINEL_LISTEN" => self.listen = value.parse().map_err(|e| bad(format!("{e}")))?,
            "SENTINEL_DATA_DIR" => self.data_dir = PathBuf::from(value),
            "SENTINEL_DATABASE_URL" => self.database_url = Some(Secret(value)),
            "SENTINEL_DATA_KEY" => self.data_key = Some(Secret(value)),
            "SENTINEL_BOOTSTRAP_ADMIN" => self.bootstrap_admin = Some(Secret(value)),
            "SENTINEL_PUBLIC_BASE_URL" => self.public_base_url = Some(value),
            "SENTINEL_TIMEZONE" => self.timezone = value,
            "SENTINEL_ISSUER" => self.issuer = value,
            "SENTINEL_CLOCK_SKEW_SECONDS" => {
                self.clock_skew_seconds = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "SENTINEL_ESCALATE_AFTER_MINUTES" => {
                self.escalate_after_minutes = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "SENTINEL_CACHED_PERSONS" => {
                self.cached_persons = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "SENTINEL_CITY_NAME" => self.city_name = value,
            "SENTINEL_CJK_FONT" => self.cjk_font = Some(PathBuf::from(value)),
            "SENTINEL_SMS_GATEWAY_URL" => self.sms_gateway_url = Some(value),
            "SENTINEL_DEMO_BANNER" => self.demo_banner = flag(&value).map_err(bad)?,
            "SENTINEL_TRUST_FORWARDED_FOR" => self.trust_forwarded_for = flag(&value).map_err(bad)?,
            "SENTINEL_WARM_TRACE_INDEX" => self.warm_trace_index = flag(&value).map_err(bad)?,
            "SENTINEL_SESSION_HOURS" => {
                self.session_hours = value.parse().map_err(|e| bad(format!("{e}")))?
            }
            "SENTINEL_LOG_FORMAT" => {
                self.log_format = match value.as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    other => return Err(bad(format!("{other}: expected text or json"))),
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("sentinel.sqlite").display()),
        }
    }

    pub fn utc_offset(&self) -> Result<FixedOffset, ConfigError> {
        TIME_ZONES
            .iter()
            .find(|(name, _)| *name == self.timezone)
            .and_then(|(_, hours)| FixedOffset::east_opt(hours * 3600))
            .ok_or_else(|| ConfigError::TimeZone(self.timezone.clone()))
    }

    /// The base URL that links and posters use.
    pub fn public_base_url(&self) -> String {
        self.public_base_url.clone().unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sentinel.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\nsession_hours = 4\ndata_dir = \"/srv/a\"\n")
            .unwrap();
        let env = vec![
            ("SENTINEL_DATA_DIR".to_owned(), "/srv/b".to_owned()),
            ("SENTINEL_DATABASE_URL".to_owned(), "postgres://u:pw@h/db".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.session_hours, 4);
        assert_eq!(c.data_dir, PathBuf::from("/srv/b"));
        let debug = format!("{c:?}");
        assert!(debug.contains("postgres://u:***@h/db") && !debug.contains("pw"), "{debug}");
        assert_eq!(c.utc_offset().unwrap().local_minus_utc(), 8 * 3600);
    }

    #[test]
    fn a_gate_only_node_can_skip_the_trace_index_at_start_up() {
        assert!(Config::default().warm_trace_index);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gate.toml");
        std::fs::write(&file, "warm_trace_index = false\n").unwrap();
        assert!(!Config::load(Some(&file), vec![]).unwrap().warm_trace_index);
        let env = vec![("SENTINEL_WARM_TRACE_INDEX".to_owned(), "true".to_owned())];
        assert!(Config::load(Some(&file), env).unwrap().warm_trace_index, "the environment wins");
        let env = vec![("SENTINEL_WARM_TRACE_INDEX".to_owned(), "sometimes".to_owned())];
        assert!(Config::load(None, env).unwrap_err().to_string().contains("SENTINEL_WARM_TRACE_INDEX"));
    }

    #[test]
    fn defaults_put_sqlite_in_the_data_dir() {
        let c = Config::load(None, vec![("SENTINEL_DATA_DIR".into(), "/tmp/x".into())]).unwrap();
        assert_eq!(c.database_url(), "sqlite:///tmp/x/sentinel.sqlite");
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::load(None, vec![("SENTINEL_LISTEN".into(), "nowhere".into())]).unwrap_err();
        assert!(e.to_string().contains("SENTINEL_LISTEN"));
        let e = Config::load(None, vec![("SENTINEL_TIMEZONE".into(), "Europe/Berlin".into())]).unwrap_err();
        assert!(matches!(e, ConfigError::TimeZone(_)));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "lisen = 1").unwrap();
        assert!(matches!(Config::load(Some(&file), vec![]), Err(ConfigError::Toml { .. })));
    }
}
