//! Bad requests get a 4xx problem body naming the problem, never a 500, and write nothing.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod harness;

use alexandria_api::auth::principal::Role;
use harness::{TestServer, parts};

struct Case {
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    problem: &'static str,
    mentions: &'static str,
}

fn case(
    name: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    problem: &'static str,
    mentions: &'static str,
) -> Case {
    Case {
        name,
        content_type: "application/json",
        body: body.into(),
        status,
        problem,
        mentions,
    }
}

async fn users_and_audit(server: &TestServer) -> (i64, i64) {
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&server.database.pool)
        .await
        .unwrap();
    (users, server.audit_rows().await)
}

#[tokio::test]
async fn malformed_bodies_are_refused_with_a_named_problem_and_write_nothing() {
    let server = TestServer::start_with(|c| c.body_limit = 64 * 1024).await;
    let admin = server.user("adm", Role::Admin, "default", &[]).await;
    let token = server.token_for(&admin).await;
    let huge = "x".repeat(60 * 1024);
    let cases = vec![
        case(
            "truncated JSON",
            r#"{"username": "a", "#,
            400,
            "malformed-json",
            "malformed JSON",
        ),
        case(
            "not JSON",
            "username=a&password=b",
            400,
            "malformed-json",
            "malformed JSON",
        ),
        case(
            "trailing garbage",
            r#"{"username":"zed","password":"long enough password","role":"user"} x"#,
            400,
            "malformed-json",
            "trailing",
        ),
        case(
            "invalid UTF-8",
            b"{\"username\": \"\xff\xfe\", \"password\": \"x\"}".to_vec(),
            400,
            "invalid-utf8",
            "UTF-8",
        ),
        case(
            "wrong type",
            r#"{"username": 42, "password": "long enough password", "role": "user"}"#,
            422,
            "invalid-field",
            "username",
        ),
        case(
            "unknown role",
            r#"{"username": "zed", "password": "long enough password", "role": "root"}"#,
            422,
            "invalid-field",
            "role",
        ),
        case(
            "unknown field",
            r#"{"username": "zed", "password": "long enough password", "role": "user", "is_admin": true}"#,
            422,
            "invalid-field",
            "is_admin",
        ),
        case(
            "missing field",
            r#"{"username": "zed", "role": "user"}"#,
            422,
            "invalid-field",
            "password",
        ),
        case(
            "array instead of object",
            "[1, 2, 3]",
            422,
            "invalid-field",
            "[0]",
        ),
        case(
            "huge username",
            format!(
                r#"{{"username": "{huge}", "password": "long enough password", "role": "user"}}"#
            ),
            422,
            "invalid-request",
            "username",
        ),
        case(
            "huge tool list entry",
            format!(
                r#"{{"username": "zed", "password": "long enough password", "role": "user", "allowed_tools": ["{huge}"]}}"#
            ),
            422,
            "invalid-request",
            "allowed_tools",
        ),
        case(
            "short password",
            r#"{"username": "zed", "password": "short", "role": "user"}"#,
            422,
            "invalid-request",
            "password",
        ),
        case(
            "over the body limit",
            format!(r#"{{"username": "{}"}}"#, "y".repeat(70 * 1024)),
            413,
            "body-too-large",
            "body_limit",
        ),
        Case {
            content_type: "text/plain",
            ..case(
                "wrong media type",
                r#"{"username": "zed"}"#,
                415,
                "unsupported-media-type",
                "application/json",
            )
        },
    ];
    let before = users_and_audit(&server).await;
    for c in cases {
        let response = server
            .client
            .post(server.url("/admin/users"))
            .bearer_auth(&token)
            .header("content-type", c.content_type)
            .body(c.body)
            .send()
            .await
            .unwrap();
        let (status, content_type, body) = parts(response).await;
        assert_eq!(status, c.status, "{}: {body}", c.name);
        assert_eq!(content_type, "application/problem+json", "{}", c.name);
        assert_eq!(
            body["type"],
            format!("urn:alexandria:problem:{}", c.problem),
            "{}: {body}",
            c.name
        );
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(c.mentions), "{}: {detail:?}", c.name);
    }
    assert_eq!(users_and_audit(&server).await, before, "nothing written");
}

#[tokio::test]
async fn login_with_bad_bodies_is_a_4xx_and_not_an_auth_attempt() {
    let server = TestServer::start().await;
    let before = server.audit_rows().await;
    for (body, status) in [
        (r#"{"username": "a"}"#.to_owned(), 422),
        (r#"{"username": ["a"], "password": "b"}"#.to_owned(), 422),
        (
            format!(r#"{{"username": "{}", "password": "b"}}"#, "u".repeat(300)),
            422,
        ),
        (
            format!(r#"{{"username": "a", "password": "{}"}}"#, "p".repeat(2000)),
            422,
        ),
        ("{".to_owned(), 400),
        (
            r#"{"username": "a\u0000b", "password": "pw"}"#.to_owned(),
            422,
        ),
    ] {
        let response = server
            .client
            .post(server.url("/auth/login"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let (got, content_type, problem) = parts(response).await;
        assert_eq!(got, status, "{body:.80}: {problem}");
        assert_eq!(content_type, "application/problem+json");
    }
    assert_eq!(server.audit_rows().await, before);
}

#[tokio::test]
async fn unknown_routes_methods_and_path_parameters_get_problem_bodies() {
    let server = TestServer::start().await;
    let admin = server.user("adm", Role::Admin, "default", &[]).await;
    let token = server.token_for(&admin).await;
    let cases = [
        (reqwest::Method::GET, "/no/such/route", 404, "not-found"),
        (
            reqwest::Method::DELETE,
            "/healthz",
            405,
            "method-not-allowed",
        ),
        (
            reqwest::Method::PUT,
            "/auth/login",
            405,
            "method-not-allowed",
        ),
        (
            reqwest::Method::GET,
            "/admin/users/not-a-uuid",
            400,
            "bad-request",
        ),
    ];
    for (method, path, status, problem) in cases {
        let response = server
            .client
            .request(method.clone(), server.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let (got, content_type, body) = parts(response).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        assert_eq!(content_type, "application/problem+json", "{method} {path}");
        assert_eq!(body["type"], format!("urn:alexandria:problem:{problem}"));
    }
}
