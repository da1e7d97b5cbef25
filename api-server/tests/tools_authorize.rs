//! `POST /v1/tools/authorize` over real HTTP: the intersection, the tenant ceiling, agents only
//! for themselves, and the recorded super_admin bypass.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod harness;

use std::collections::BTreeSet;

use alexandria_api::auth::principal::Role;
use alexandria_api::config::ToolCeiling;
use harness::{TestServer, parts};
use serde_json::{Value, json};

async fn authorize(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let response = server
        .client
        .post(server.url("/v1/tools/authorize"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(response).await;
    (status, body)
}

fn ceiling(tools: &[&str]) -> ToolCeiling {
    ToolCeiling::Only(
        tools
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>(),
    )
}

#[tokio::test]
async fn an_agent_acting_for_a_user_gets_the_intersection_and_each_decision_is_recorded() {
    let server =
        TestServer::start_with(|c| c.tools.ceiling = ceiling(&["search", "fetch", "email"])).await;
    server.catalog(&["search", "fetch", "email", "shell"]).await;
    let user = server
        .user("mia", Role::User, "default", &["search", "email", "shell"])
        .await;
    let agent = server
        .agent("assistant", "default", &["search", "fetch", "shell"])
        .await;
    let token = server.agent_token(&agent, Some(&user)).await;

    let before = server.audit_position().await;
    let (status, body) = authorize(&server, &token, json!({"tool": "search"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowed"], true);
    assert_eq!(body["effective_tools"], json!(["search"]));
    for (tool, culprit) in [
        ("fetch", "user"),
        ("email", "agent"),
        ("shell", "ceiling"),
        ("unknown-tool", "catalog"),
    ] {
        let (status, body) = authorize(&server, &token, json!({"tool": tool})).await;
        assert_eq!(status, 200);
        assert_eq!(body["allowed"], false, "{tool}");
        assert!(
            body["reason"].as_str().unwrap().contains(culprit),
            "{tool}: {body}"
        );
    }
    let rows = server.audit_since(before).await;
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r.1 == "authz.decision"));
    assert_eq!(rows[0].0, "mia", "the delegating user is the principal");
    assert_eq!(rows[0].2["allowed"], true);
    assert_eq!(rows[1].2["allowed"], false);
}

#[tokio::test]
async fn an_agent_cannot_ask_for_another_agent_or_user() {
    let server = TestServer::start_with(|c| c.tools.ceiling = ToolCeiling::Catalog).await;
    server.catalog(&["search"]).await;
    let user = server.user("noa", Role::User, "default", &["search"]).await;
    let other = server.user("oli", Role::User, "default", &["search"]).await;
    let agent = server.agent("a1", "default", &["search"]).await;
    let other_agent = server.agent("a2", "default", &["search"]).await;
    let token = server.agent_token(&agent, Some(&user)).await;
    let before = server.audit_position().await;
    for body in [
        json!({"tool": "search", "agent": other_agent.id}),
        json!({"tool": "search", "user": other.id}),
    ] {
        let (status, problem) = authorize(&server, &token, body).await;
        assert_eq!(status, 403, "{problem}");
    }
    let rows = server.audit_since(before).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.1 == "authz.denied"));
}

#[tokio::test]
async fn a_super_admin_bypass_is_allowed_and_recorded_as_its_own_action() {
    let server = TestServer::start_with(|c| c.tools.ceiling = ceiling(&[])).await;
    server.catalog(&["deploy"]).await;
    let root = server.user("root", Role::SuperAdmin, "default", &[]).await;
    let agent = server.agent("ops-bot", "default", &[]).await;
    let token = server.token_for(&root).await;
    let before = server.audit_position().await;
    let (status, body) = authorize(
        &server,
        &token,
        json!({"tool": "deploy", "agent": agent.id}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowed"], true);
    assert_eq!(body["bypass"], true);
    let rows = server.audit_since(before).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("root", "authz.bypass")
    );
    assert_eq!(rows[0].2["intersection_allowed"], false);

    // An agent token delegated by the super_admin bypasses too; a tool outside the catalog does not.
    let agent_token = server.agent_token(&agent, Some(&root)).await;
    let (_, body) = authorize(&server, &agent_token, json!({"tool": "deploy"})).await;
    assert_eq!(body["bypass"], true);
    let (_, body) = authorize(&server, &agent_token, json!({"tool": "not-a-tool"})).await;
    assert_eq!(
        (body["allowed"].clone(), body["bypass"].clone()),
        (json!(false), json!(false))
    );
    let rows = server.audit_since(before).await;
    let actions: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(actions, ["authz.bypass", "authz.bypass", "authz.decision"]);
}

#[tokio::test]
async fn in_multi_tenant_mode_the_tenant_ceiling_is_part_of_the_intersection() {
    let server = TestServer::start_with(|c| {
        c.multi_tenant = true;
        c.tools.ceiling = ToolCeiling::Catalog;
    })
    .await;
    server.catalog(&["search", "fetch"]).await;
    server.tenant("acme", &["search"]).await;
    let user = server
        .user("pat", Role::User, "acme", &["search", "fetch"])
        .await;
    let agent = server.agent("bot", "acme", &["search", "fetch"]).await;
    let token = server.agent_token(&agent, Some(&user)).await;
    let (_, body) = authorize(&server, &token, json!({"tool": "fetch"})).await;
    assert_eq!(body["allowed"], false);
    assert!(
        body["reason"].as_str().unwrap().contains("tenant"),
        "{body}"
    );
    assert_eq!(body["effective_tools"], json!(["search"]));
    let (_, body) = authorize(&server, &token, json!({"tool": "search"})).await;
    assert_eq!(body["allowed"], true);
}

#[tokio::test]
async fn a_disabled_agent_is_allowed_nothing() {
    let server = TestServer::start_with(|c| c.tools.ceiling = ToolCeiling::Catalog).await;
    server.catalog(&["search"]).await;
    let admin = server
        .user("adm", Role::Admin, "default", &["search"])
        .await;
    let agent = server.agent("bot", "default", &["search"]).await;
    let token = server.token_for(&admin).await;
    let (_, body) = authorize(
        &server,
        &token,
        json!({"tool": "search", "agent": agent.id}),
    )
    .await;
    assert_eq!(body["allowed"], true);
    let response = server
        .client
        .patch(server.url(&format!("/admin/agents/{}", agent.id)))
        .bearer_auth(&token)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, body) = authorize(
        &server,
        &token,
        json!({"tool": "search", "agent": agent.id}),
    )
    .await;
    assert_eq!(body["allowed"], false);
    assert!(body["reason"].as_str().unwrap().contains("disabled"));
}
