//! FAKE Schema Registry, for one test only: the wire format runs against a real registry
//! (Apicurio Registry, `round_trip.rs`), but Apicurio checks basic authentication only against an
//! OpenID Connect server, which cannot run here; so whether our client sends the credentials is
//! shown on this fake. It implements exactly the REST calls our client
//! (`schema_registry_converter`) makes, and records any other call so a test can fail on it:
//!
//! - `POST /subjects/{subject}/versions` — register a schema, answer `{"id": N}`;
//! - `GET /schemas/ids/{id}` — fetch a schema by id, answer `{"schema": "..."}`.
//!
//! Basic authentication is checked when the fake is started with credentials.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use warp::http::StatusCode;
use warp::Filter;

#[derive(Default)]
struct Registry {
    /// id → (subject, schema text)
    schemas: Vec<(String, String)>,
    unknown_calls: Vec<String>,
}

pub struct FakeSchemaRegistry {
    addr: SocketAddr,
    state: Arc<Mutex<Registry>>,
}

fn reply(status: StatusCode, body: serde_json::Value) -> warp::reply::Response {
    use warp::Reply;
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

impl FakeSchemaRegistry {
    pub async fn start(credentials: Option<(&str, &str)>) -> FakeSchemaRegistry {
        let state = Arc::new(Mutex::new(Registry::default()));
        let expected = credentials.map(|(u, p)| expected_basic(u, p));
        let shared = state.clone();
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::query::<HashMap<String, String>>())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::bytes())
            .map(move |method: warp::http::Method, path: warp::path::FullPath, _q: HashMap<String, String>, auth: Option<String>, body: bytes::Bytes| {
                if let Some(expected) = &expected {
                    if auth.as_deref() != Some(expected.as_str()) {
                        return reply(StatusCode::UNAUTHORIZED, serde_json::json!({"error_code": 40101, "message": "Unauthorized"}));
                    }
                }
                let mut registry = shared.lock().unwrap();
                let segments: Vec<&str> = path.as_str().trim_matches('/').split('/').collect();
                match (method.as_str(), segments.as_slice()) {
                    ("POST", ["subjects", subject, "versions"]) => {
                        let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body) else {
                            return reply(StatusCode::UNPROCESSABLE_ENTITY, serde_json::json!({"error_code": 42201, "message": "invalid body"}));
                        };
                        let Some(schema) = request.get("schema").and_then(|s| s.as_str()) else {
                            return reply(StatusCode::UNPROCESSABLE_ENTITY, serde_json::json!({"error_code": 42201, "message": "no schema"}));
                        };
                        let subject = subject.replace("%2F", "/");
                        let id = match registry.schemas.iter().position(|(s, text)| *s == subject && text == schema) {
                            Some(i) => i + 1,
                            None => {
                                registry.schemas.push((subject, schema.to_string()));
                                registry.schemas.len()
                            }
                        };
                        reply(StatusCode::OK, serde_json::json!({"id": id}))
                    }
                    ("GET", ["schemas", "ids", id]) => match id.parse::<usize>().ok().and_then(|i| registry.schemas.get(i.wrapping_sub(1))) {
                        Some((_, schema)) => reply(StatusCode::OK, serde_json::json!({"schema": schema})),
                        None => reply(StatusCode::NOT_FOUND, serde_json::json!({"error_code": 40403, "message": "Schema not found"})),
                    },
                    _ => {
                        registry.unknown_calls.push(format!("{method} {}", path.as_str()));
                        reply(StatusCode::NOT_FOUND, serde_json::json!({"error_code": 404, "message": "not implemented by the fake"}))
                    }
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(routes).incoming(listener).run());
        FakeSchemaRegistry { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn subject_of(&self, id: u32) -> Option<String> {
        let registry = self.state.lock().unwrap();
        registry
            .schemas
            .get((id as usize).wrapping_sub(1))
            .map(|(s, _)| s.clone())
    }

    pub fn unknown_calls(&self) -> Vec<String> {
        self.state.lock().unwrap().unknown_calls.clone()
    }
}

fn expected_basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
