//! Logs, traces and metrics of a running server: the WARN line of every auth failure with the
//! identity and peer IP, the trace id in request log lines, spans and logs reaching an OTLP
//! collector, and a `/metrics` scrape that `promtool check metrics` accepts.
//!
//! One process-wide subscriber (installed once) writes to a buffer the tests read, and exports
//! to a small OTLP/HTTP collector served on loopback.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod harness;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use alexandria_api::auth::principal::Role;
use alexandria_api::config::OtlpConfig;
use alexandria_api::observability::telemetry::{self, Telemetry};
use axum::body::Bytes;
use axum::extract::State;
use harness::{PASSWORD, TestServer, exposition};

/// What the collector received: (path, body) per request.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

struct Observed {
    logs: Arc<Mutex<Vec<u8>>>,
    received: Received,
    telemetry: Telemetry,
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The subscriber and collector, set up on first use (the collector on a thread of its own, so
/// it outlives each test's runtime).
fn observed() -> &'static Observed {
    static OBSERVED: OnceLock<Observed> = OnceLock::new();
    OBSERVED.get_or_init(|| {
        let received: Received = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = received.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                async fn accept(
                    State(sink): State<Received>,
                    uri: axum::http::Uri,
                    body: Bytes,
                ) -> &'static str {
                    sink.lock()
                        .unwrap()
                        .push((uri.path().to_owned(), body.to_vec()));
                    ""
                }
                let app = axum::Router::new()
                    .route("/v1/traces", axum::routing::post(accept))
                    .route("/v1/logs", axum::routing::post(accept))
                    .with_state(sink);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let collector = rx.recv().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(logs.clone());
        let otlp = OtlpConfig {
            endpoint: format!("http://{collector}").parse().unwrap(),
            service_name: "alexandria-api-test".into(),
        };
        let telemetry =
            telemetry::init(Some(&otlp), move || writer.clone(), false, "info,sqlx=warn").unwrap();
        Observed {
            logs,
            received,
            telemetry,
        }
    })
}

fn log_lines() -> Vec<String> {
    let bytes = observed().logs.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_auth_failure_is_logged_at_warn_with_the_identity_and_the_peer_ip() {
    observed();
    let server = TestServer::start().await;
    server.user("quinn", Role::User, "default", &[]).await;
    server.login("quinn", "definitely not it").await;
    let expired = {
        let user = server.user("rory", Role::User, "default", &[]).await;
        server.expired_token_for(&user).await
    };
    server
        .client
        .get(server.url("/auth/me"))
        .bearer_auth(&expired)
        .send()
        .await
        .unwrap();
    let lines = log_lines();
    let login_line = lines
        .iter()
        .find(|l| l.contains("WARN") && l.contains("identity=quinn"))
        .unwrap_or_else(|| panic!("no WARN line for quinn in {lines:#?}"));
    assert!(login_line.contains("peer_ip=127.0.0.1"), "{login_line}");
    assert!(
        login_line.contains("reason=\"wrong_password\"")
            || login_line.contains("reason=wrong_password"),
        "{login_line}"
    );
    assert!(
        !login_line.contains("definitely not it"),
        "passwords are never logged"
    );
    let token_line = lines
        .iter()
        .find(|l| {
            l.contains("WARN") && l.contains("expired") && l.contains("authentication failed")
        })
        .unwrap_or_else(|| panic!("no WARN line for the expired token in {lines:#?}"));
    assert!(token_line.contains("peer_ip=127.0.0.1"), "{token_line}");
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    observed();
    let untrusting = TestServer::start().await;
    let trusting =
        TestServer::start_with(|c| c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    for (server, name, forwarded) in [
        (&untrusting, "spoofer", "198.51.100.1"),
        (&trusting, "proxied", "198.51.100.2"),
    ] {
        server
            .client
            .post(server.url("/auth/login"))
            .header("x-forwarded-for", forwarded)
            .json(&serde_json::json!({"username": name, "password": "nope nope nope"}))
            .send()
            .await
            .unwrap();
    }
    let lines = log_lines();
    let line_for = |name: &str| {
        lines
            .iter()
            .find(|l| l.contains("WARN") && l.contains(&format!("identity={name}")))
            .unwrap_or_else(|| panic!("no line for {name}: {lines:#?}"))
            .clone()
    };
    let spoofed = line_for("spoofer");
    assert!(
        spoofed.contains("peer_ip=127.0.0.1") && !spoofed.contains("198.51.100.1"),
        "{spoofed}"
    );
    assert!(line_for("proxied").contains("peer_ip=198.51.100.2"));
}

#[tokio::test]
async fn request_log_lines_carry_the_trace_id_and_spans_and_logs_reach_the_otlp_collector() {
    let observed = observed();
    let server = TestServer::start().await;
    let response = server.login("nobody-at-all", "a wrong password").await;
    let trace_id = response
        .headers()
        .get("x-trace-id")
        .expect("x-trace-id header")
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(trace_id.len(), 32);
    let lines = log_lines();
    let line = lines
        .iter()
        .find(|l| l.contains("identity=nobody-at-all"))
        .unwrap_or_else(|| panic!("no line in {lines:#?}"));
    assert!(line.contains(&format!("trace_id={trace_id}")), "{line}");

    // A traceparent from the caller is continued.
    let parent = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = server
        .client
        .get(server.url("/healthz"))
        .header("traceparent", format!("00-{parent}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers().get("x-trace-id").unwrap(), parent);

    observed.telemetry.flush();
    let wanted = hex::decode(&trace_id).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let received = observed.received.lock().unwrap().clone();
        let traces: Vec<&Vec<u8>> = received
            .iter()
            .filter(|(p, _)| p == "/v1/traces")
            .map(|(_, b)| b)
            .collect();
        let logs: Vec<&Vec<u8>> = received
            .iter()
            .filter(|(p, _)| p == "/v1/logs")
            .map(|(_, b)| b)
            .collect();
        let span_arrived = traces
            .iter()
            .any(|b| b.windows(16).any(|w| w == wanted.as_slice()));
        let log_arrived = logs.iter().any(|b| {
            b.windows(b"nobody-at-all".len())
                .any(|w| w == b"nobody-at-all")
        });
        if span_arrived && log_arrived {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "collector got {} trace and {} log exports; span {span_arrived}, log {log_arrived}",
            traces.len(),
            logs.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        observed.telemetry.flush();
    }
}

#[tokio::test]
async fn a_metrics_scrape_passes_promtool_and_counts_routes_failures_lockouts_and_audit() {
    observed();
    let server = TestServer::start_with(|c| c.auth.lockout.max_attempts = 2).await;
    server.user("sam", Role::User, "default", &[]).await;
    assert_eq!(server.login("sam", PASSWORD).await.status(), 200);
    for _ in 0..2 {
        server.login("sam", "wrong wrong wrong").await;
    }
    server
        .client
        .get(server.url("/nowhere"))
        .send()
        .await
        .unwrap();
    server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    let response = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    for expected in [
        r#"alexandria_http_requests_total{method="GET",route="/healthz",status="200"} 1"#,
        r#"alexandria_http_requests_total{method="POST",route="/auth/login",status="200"} 1"#,
        r#"alexandria_http_requests_total{method="POST",route="/auth/login",status="401"} 2"#,
        r#"alexandria_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"alexandria_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le="+Inf"} 1"#,
        r#"alexandria_auth_failures_total{reason="wrong_password"} 2"#,
        r#"alexandria_auth_lockouts_total{scope="user"} 1"#,
        r#"alexandria_audit_appends_total{result="committed"} 3"#,
        "alexandria_audit_append_duration_seconds_count 3",
        "# TYPE process_cpu_seconds_total counter",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let checked_by = exposition::check(&text).unwrap();
    eprintln!("metrics exposition checked by: {checked_by}");
}

#[test]
fn the_structural_check_catches_what_promtool_would() {
    let good = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"b,c\"} 3\n";
    assert!(exposition::structural(good).is_ok());
    for bad in [
        "# HELP x Things.\n# TYPE x counter\nx 3\n",
        "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=b} 3\n",
        "# HELP x_total Things.\n# TYPE x_total counter\nx_total three\n",
        "y_total 1\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
    ] {
        assert!(exposition::structural(bad).is_err(), "{bad:?} accepted");
    }
}
