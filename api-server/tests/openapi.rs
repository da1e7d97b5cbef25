//! `GET /openapi.json` describes every route of the RBAC table, with its errors.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod harness;

use alexandria_api::rbac::Access;
use alexandria_api::rbac::routes::ROUTES;
use harness::{TestServer, parts};

#[tokio::test]
async fn every_route_of_the_table_is_described_with_its_problem_responses() {
    let server = TestServer::start().await;
    let (status, _, doc) = parts(
        server
            .client
            .get(server.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["components"]["schemas"].get("Problem").is_some());
    assert!(doc["components"]["securitySchemes"].get("bearer").is_some());
    let mut described = 0;
    for spec in ROUTES {
        let name = format!("{} {}", spec.verb.as_str(), spec.path);
        let operation = &doc["paths"][spec.path][spec.verb.as_str().to_ascii_lowercase()];
        assert!(operation.is_object(), "{name} is not in /openapi.json");
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|code| code.starts_with('2')),
            "{name}: no success response"
        );
        if spec.access != Access::Public {
            assert!(responses.contains_key("401"), "{name}: no 401");
            assert!(
                responses["401"]["content"]
                    .get("application/problem+json")
                    .is_some(),
                "{name}: 401 is not a problem body"
            );
            assert!(
                !operation["security"].is_null(),
                "{name}: no security requirement"
            );
        }
        if spec.verb.is_mutating()
            && spec.path != "/auth/logout"
            && !spec.path.ends_with("/unlock")
            && spec.verb != alexandria_api::rbac::Verb::Delete
        {
            assert!(
                operation["requestBody"]["content"]
                    .get("application/json")
                    .is_some(),
                "{name}: no JSON request body schema"
            );
        }
        described += 1;
    }
    assert_eq!(described, ROUTES.len());
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "no undocumented extras, no routes missing"
    );
}
