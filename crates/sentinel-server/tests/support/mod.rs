//! A real server on port 0 over a fresh database, and a client that speaks to it.

#![allow(dead_code)]

use reqwest::{Method, Response, StatusCode};
use sentinel_server::{Config, Secret};
use sentinel_store::testing::{TestDatabase, postgres_url_or_skip};
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "admin-password-1";
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub base: String,
    /// The server's own state, for tests that need its key ring or store directly.
    pub state: sentinel_server::AppState,
    pub http: reqwest::Client,
    /// The configuration it runs with (a second node starts from it).
    pub config: Config,
    dir: tempfile::TempDir,
    pg: Option<TestDatabase>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts a server with a bootstrap admin; `None` when the backend is not available (skipped).
    pub async fn start(backend: Backend, test: &str) -> Option<Self> {
        Self::start_with(backend, test, |_| {}).await
    }

    /// [`start`] with configuration changed by `configure` (the public URL is the server's own address).
    pub async fn start_with(
        backend: Backend,
        test: &str,
        configure: impl FnOnce(&mut Config),
    ) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
        config.data_key = Some(Secret::new(KEY));
        config.bootstrap_admin = Some(Secret::new(format!("admin:{ADMIN_PASSWORD}")));
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let admin = postgres_url_or_skip(test)?;
                let db = TestDatabase::create(&admin).await.unwrap();
                config.database_url = Some(Secret::new(db.url.clone()));
                Some(db)
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Place-code URLs must lead back to this server.
        config.public_base_url = Some(format!("http://{addr}"));
        configure(&mut config);
        Some(Self::serve(config, listener, dir, pg).await)
    }

    /// Another node on the same database: its own address, data directory and caches.
    pub async fn second_node(&self) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = self.config.clone();
        config.data_dir = dir.path().to_owned();
        config.public_base_url = Some(format!("http://{}", listener.local_addr().unwrap()));
        Self::serve(config, listener, dir, None).await
    }

    async fn serve(
        config: Config,
        listener: tokio::net::TcpListener,
        dir: tempfile::TempDir,
        pg: Option<TestDatabase>,
    ) -> Self {
        let addr = listener.local_addr().unwrap();
        let store = sentinel_server::open_store(&config).await.unwrap();
        let state = sentinel_server::build_state(&config, store).await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(sentinel_server::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
        Self {
            base: format!("http://{addr}"),
            state,
            http,
            config,
            dir,
            pg,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Stops the server gracefully and drops its database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        if let Some(db) = self.pg.take() {
            db.drop_database().await.unwrap();
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    /// Sends a request and returns the status and JSON body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let res = self.request(method, path, token, body).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Creates a user with a role and scope and returns its session token.
    pub async fn user(&self, admin: &str, username: &str, role: &str, scope: &str) -> String {
        let password = format!("{username}-password");
        let body = json!({"username": username, "password": password, "role": role, "scope": scope});
        let (status, created) = self.post("/api/v1/users", admin, body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        self.login(username, &password).await
    }

    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// Jiangsu → Suzhou → Gusu → 平江街道 → two communities with a grid each, and 吴中区.
    pub async fn seed_regions(&self, token: &str) {
        for (code, name) in [
            ("320000", "江苏省"),
            ("320500", "苏州市"),
            ("320508", "姑苏区"),
            ("320506", "吴中区"),
            ("320508001", "平江街道"),
            ("320508001001", "平江社区"),
            ("320508001001001", "平江社区第一网格"),
            ("320508001002", "大儒社区"),
            ("320508001002001", "大儒社区第一网格"),
        ] {
            let (status, body) =
                self.post("/api/v1/regions", token, json!({"code": code, "name_zh": name})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
}

/// A valid ID number for tests (check character computed).
pub fn id_number(area: &str, birth: &str, seq: u16) -> String {
    let birth = chrono::NaiveDate::parse_from_str(birth, "%Y%m%d").unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2024, 4, 29).unwrap();
    sentinel_core::ResidentIdNumber::from_parts(area, birth, seq, today).unwrap().as_str().to_owned()
}

/// Runs each listed test body against SQLite and PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let server = $crate::support::TestServer::start($crate::support::Backend::Sqlite, "").await.unwrap();
                    super::$case(&server).await;
                    server.stop().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let name = concat!("postgres::", stringify!($case));
                    let Some(server) = $crate::support::TestServer::start($crate::support::Backend::Postgres, name).await else { return };
                    super::$case(&server).await;
                    server.stop().await;
                }
            )*
        }
    };
}
