//! A running api-server for the identity tests: a fresh database, the real router on a loopback
//! port, and helpers to make principals and count audit rows.

#![allow(dead_code)] // each test binary uses a different subset

pub mod exposition;

use std::sync::Arc;

use alexandria_api::auth::principal::Role;
use alexandria_api::config::Config;
use alexandria_api::entitlements::Entitlements;
use alexandria_api::identity::users::{self, NewUser, User};
use alexandria_api::identity::{agents, tenants};
use alexandria_api::postgres::TestDatabase;
use alexandria_api::state::AppState;
use alexandria_api::{db, server};
use serde_json::{Value, json};

/// Password of every user the harness makes.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub database: TestDatabase,
    pub state: Arc<AppState>,
    pub base: String,
    pub client: reqwest::Client,
}

/// A test configuration: dev secrets, the cheapest bcrypt cost configuration allows.
pub fn test_config(database: &TestDatabase) -> Config {
    let mut config = Config::dev(&database.url, "127.0.0.1:0".parse().unwrap());
    config.auth.bcrypt_cost = alexandria_api::config::MIN_BCRYPT_COST;
    config
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let database = TestDatabase::create().await.unwrap();
        let mut config = test_config(&database);
        adjust(&mut config);
        let audit_pool = db::connect(&database.url, 4).await.unwrap();
        let pool = database.pool.clone();
        let state = tokio::task::spawn_blocking(move || {
            AppState::new(config, pool, audit_pool, Entitlements::development())
        })
        .await
        .unwrap()
        .unwrap();
        Self::serve(database, state).await
    }

    pub async fn serve(database: TestDatabase, state: Arc<AppState>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(server::run(listener, state.clone(), std::future::pending()));
        Self {
            database,
            state,
            base,
            client: reqwest::Client::new(),
        }
    }

    /// A second server process-equivalent on the same database and secrets (a replica): its own
    /// state, pools and audit writer. Returns its base URL.
    pub async fn spawn_replica(&self) -> String {
        let config = (*self.state.config).clone();
        let pool = db::connect(&self.database.url, 4).await.unwrap();
        let audit_pool = db::connect(&self.database.url, 2).await.unwrap();
        let state = tokio::task::spawn_blocking(move || {
            AppState::new(config, pool, audit_pool, Entitlements::development())
        })
        .await
        .unwrap()
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(server::run(listener, state, std::future::pending()));
        base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a tenant directly in the database.
    pub async fn tenant(&self, id: &str, ceiling: &[&str]) {
        let ceiling: Vec<String> = ceiling.iter().map(|s| (*s).to_owned()).collect();
        let mut conn = self.database.pool.acquire().await.unwrap();
        tenants::create(&mut conn, id, id, &ceiling).await.unwrap();
    }

    /// Creates tools in the catalog directly.
    pub async fn catalog(&self, names: &[&str]) {
        let mut conn = self.database.pool.acquire().await.unwrap();
        for name in names {
            alexandria_api::identity::tools::create(&mut conn, name, "")
                .await
                .unwrap();
        }
    }

    /// Creates a user with [`PASSWORD`] directly in the database (no audit row).
    pub async fn user(&self, username: &str, role: Role, tenant: &str, tools: &[&str]) -> User {
        let hash = self.state.passwords.hash(PASSWORD).await.unwrap();
        let tools: Vec<String> = tools.iter().map(|s| (*s).to_owned()).collect();
        let mut conn = self.database.pool.acquire().await.unwrap();
        users::create(
            &mut conn,
            &NewUser {
                tenant,
                username,
                password_hash: &hash,
                role,
                allowed_tools: &tools,
            },
        )
        .await
        .unwrap()
    }

    /// Creates an agent directly in the database.
    pub async fn agent(&self, name: &str, tenant: &str, tools: &[&str]) -> agents::Agent {
        let tools: Vec<String> = tools.iter().map(|s| (*s).to_owned()).collect();
        let mut conn = self.database.pool.acquire().await.unwrap();
        agents::create(&mut conn, tenant, name, &tools)
            .await
            .unwrap()
    }

    /// A valid token for `user`, minted with the server's keys.
    pub async fn token_for(&self, user: &User) -> String {
        let mut conn = self.database.pool.acquire().await.unwrap();
        let auth = users::auth_state(&mut conn, user.id)
            .await
            .unwrap()
            .unwrap();
        let claims = self.state.tokens.claims(
            user.id,
            auth.role,
            &auth.tenant,
            auth.token_generation,
            self.state.tokens.ttl(),
        );
        self.state.tokens.sign(&claims).unwrap()
    }

    /// A valid token for an agent, optionally acting for `user`.
    pub async fn agent_token(&self, agent: &agents::Agent, user: Option<&User>) -> String {
        let mut conn = self.database.pool.acquire().await.unwrap();
        let generation = agents::token_generation(&mut conn, agent.id)
            .await
            .unwrap()
            .unwrap();
        let mut claims = self.state.tokens.claims(
            agent.id,
            Role::Agent,
            &agent.tenant,
            generation,
            self.state.tokens.ttl(),
        );
        if let Some(user) = user {
            let auth = users::auth_state(&mut conn, user.id)
                .await
                .unwrap()
                .unwrap();
            claims.obo = Some(user.id.to_string());
            claims.obo_tgen = Some(auth.token_generation);
        }
        self.state.tokens.sign(&claims).unwrap()
    }

    /// A token for `user` that expired an hour ago.
    pub async fn expired_token_for(&self, user: &User) -> String {
        let mut conn = self.database.pool.acquire().await.unwrap();
        let auth = users::auth_state(&mut conn, user.id)
            .await
            .unwrap()
            .unwrap();
        let mut claims = self.state.tokens.claims(
            user.id,
            auth.role,
            &auth.tenant,
            auth.token_generation,
            self.state.tokens.ttl(),
        );
        claims.iat -= 7200;
        claims.exp = claims.iat + 3600;
        self.state.tokens.sign(&claims).unwrap()
    }

    /// Logs in over HTTP.
    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Logs in and returns the access token.
    pub async fn login_token(&self, username: &str) -> String {
        let response = self.login(username, PASSWORD).await;
        assert_eq!(response.status(), 200, "login of {username}");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Number of rows in the audit log.
    pub async fn audit_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log")
            .fetch_one(&self.database.pool)
            .await
            .unwrap()
    }

    /// (principal, action, metadata) of audit rows after position `after`, oldest first.
    pub async fn audit_since(&self, after: i64) -> Vec<(String, String, Value)> {
        let rows: Vec<(String, String, Value)> = sqlx::query_as(
            "SELECT principal, action, metadata_jsonb FROM audit_log WHERE id > $1 ORDER BY id",
        )
        .bind(after)
        .fetch_all(&self.database.pool)
        .await
        .unwrap();
        rows
    }

    /// Newest audit position.
    pub async fn audit_position(&self) -> i64 {
        sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM audit_log")
            .fetch_one(&self.database.pool)
            .await
            .unwrap()
    }
}

/// Status, content type and JSON body (Null when empty) of a response.
pub async fn parts(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, content_type, body)
}
