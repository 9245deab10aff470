//! `assets/swagger.yaml` against a real validator and against the real binary.
//!
//! - The document passes `openapi-spec-validator` (PyPI; `scripts/test.sh` installs it).
//! - Every path the server routes (the match in `src/server/routes.rs` and the table in
//!   `src/server/assets.rs`, read from the source so a new route cannot be missed) is documented, and
//!   every documented path is answered.
//! - Every documented status of every path is requested and comes back with a documented
//!   content type and the documented headers; the one status that cannot be provoked from
//!   outside is named in [`NOT_PROVOKABLE`] with the reason.
//!
//! The YAML is read by Python's PyYAML (a dependency of the validator), so the Rust side needs
//! no YAML crate.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{Reply, TestServer, enc};

const PUBLIC_KEY: &str = include_str!("../support/public-key-rsa2048.pem");
const INSTALL_HINT: &str = "the OpenAPI tests need python3 with openapi-spec-validator: \
     scripts/test.sh installs it (python3 -m pip install openapi-spec-validator)";

/// Documented statuses that no request from outside can produce, and why.
const NOT_PROVOKABLE: &[(&str, &str, &str)] = &[(
    "/flow/redirect/token",
    "500",
    "encryption failing on the server's side (RSA-OAEP or AES-GCM) needs a broken server",
)];

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn python(args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): {INSTALL_HINT}"))
}

/// The OpenAPI document as JSON, read by PyYAML.
fn document() -> Value {
    let path = repo_file("assets/swagger.yaml");
    let out = python(&[
        "-c",
        "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1], encoding='utf-8')), sys.stdout)",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "reading {} failed: {}\n{INSTALL_HINT}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("PyYAML's JSON")
}

#[test]
fn swagger_yaml_passes_openapi_spec_validator() {
    let path = repo_file("assets/swagger.yaml");
    let out = python(&[
        "-m",
        "openapi_spec_validator",
        "--validation-errors",
        "all",
        path.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with(": OK"),
        "openapi-spec-validator refused {}:\n{stdout}{stderr}\n{INSTALL_HINT}",
        path.display()
    );
    // The server serves exactly this file.
    let server = TestServer::start(&[]);
    let served = server.get("/swagger.yaml", &[]);
    assert_eq!(served.status, 200);
    assert_eq!(served.body, std::fs::read(&path).unwrap());
}

/// The string literals starting with `/` between two markers of a source file (with
/// `first_in_line_only`, only those that start a line or a table row).
fn paths_in_source(file: &str, from: &str, to: &str, first_in_line_only: bool) -> BTreeSet<String> {
    let source = std::fs::read_to_string(repo_file(file)).unwrap();
    let start = source
        .find(from)
        .unwrap_or_else(|| panic!("{file}: no {from:?}; update this test's reading of it"));
    let end = start
        + source[start..]
            .find(to)
            .unwrap_or_else(|| panic!("{file}: no {to:?} after {from:?}"));
    let region = &source[start..end];
    let mut paths = BTreeSet::new();
    if first_in_line_only {
        // A table row's key: `"/path",` alone on a line, or `("/path", ...` starting one.
        for line in region.lines().map(str::trim) {
            let key = line.strip_prefix("(\"").or_else(|| line.strip_prefix('"'));
            if let Some((path, _)) = key.and_then(|rest| rest.split_once("\","))
                && path.starts_with('/')
            {
                paths.insert(path.to_string());
            }
        }
    } else {
        for literal in region.split('"').skip(1).step_by(2) {
            if literal.starts_with('/') {
                paths.insert(literal.to_string());
            }
        }
    }
    paths
}

/// Every path the server answers: the routes of `App::route` and the embedded files.
fn routed_paths() -> BTreeSet<String> {
    let mut paths = paths_in_source(
        "src/server/routes.rs",
        "match request.path.as_str() {",
        "path => match assets::lookup(path)",
        false,
    );
    paths.extend(paths_in_source(
        "src/server/assets.rs",
        "static ASSETS: &[(&str, Asset)] = &[",
        "\n];",
        true,
    ));
    assert!(
        paths.len() > 20,
        "source reading found too little: {paths:?}"
    );
    paths
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("only local references: {reference}"));
            resolve(
                doc,
                doc.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling reference {reference}")),
            )
        }
        None => value,
    }
}

/// A media type as `(type/subtype, parameters)`, lower case.
fn media_type(value: &str) -> (String, BTreeSet<String>) {
    let mut parts = value.split(';').map(|p| p.trim().to_ascii_lowercase());
    let essence = parts.next().unwrap_or_default();
    (essence, parts.filter(|p| !p.is_empty()).collect())
}

/// The servers the requests need, and how to request each documented answer.
struct Servers {
    token: TestServer,
    no_token: TestServer,
    echo_off: TestServer,
    /// `T2G_AUDIT_REQUIRED=true` with stderr, its audit trail, at `/dev/full`.
    audit_full: TestServer,
}

/// A server with a fallback token that must write its audit lines to a full stderr: a shell
/// points fd 2 at `/dev/full`, then becomes the server.
fn audit_full() -> TestServer {
    let port = crate::harness::free_port();
    let mut command = Command::new("sh");
    command
        .args(["-c", "exec \"$0\" 2>/dev/full", crate::harness::SERVER_BIN])
        .env_clear()
        .env("T2G_SERVER_HOST", "127.0.0.1")
        .env("T2G_SERVER_PORT", port.to_string())
        .env("T2G_FALLBACK_TOKEN", "openapi-test-token")
        .env("T2G_AUDIT_REQUIRED", "true");
    TestServer::spawn(command, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
}

fn flow_query(target: &str) -> String {
    format!(
        "/flow/redirect/token?target={}&state=s&publicKeyType=rsa2048-rfc5280-x509-pem&publicKey={}",
        enc(target),
        enc(PUBLIC_KEY)
    )
}

/// The request that should produce `status` at `path`: the server, the target and headers.
fn recipe<'a>(
    servers: &'a Servers,
    path: &str,
    status: &str,
) -> (
    &'a TestServer,
    String,
    &'static [(&'static str, &'static str)],
) {
    const GZIP: &[(&str, &str)] = &[("Accept-Encoding", "gzip, deflate, br")];
    // `servers.token` has a fallback token: a Host that is not loopback is misdirected.
    const REBOUND: &[(&str, &str)] = &[("Host", "rebind.example")];
    const CROSS_SITE_READ: &[(&str, &str)] =
        &[("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "cors")];
    let loopback = "http://127.0.0.1:9/callback";
    match (path, status) {
        ("/token", "444") => (&servers.no_token, path.to_string(), &[]),
        ("/echo", "404") => (&servers.echo_off, path.to_string(), &[]),
        ("/token" | "/echo", "403") => (&servers.token, path.to_string(), CROSS_SITE_READ),
        ("/flow/redirect/token", "200") => {
            (&servers.token, flow_query("urn:ietf:wg:oauth:2.0:oob"), &[])
        }
        ("/flow/redirect/token", "303") => (&servers.token, flow_query(loopback), &[]),
        ("/flow/redirect/token", "400") => (
            &servers.token,
            "/flow/redirect/token?state=s".to_string(),
            &[],
        ),
        ("/flow/redirect/token", "414") => (
            &servers.token,
            format!("{}&pad={}", flow_query(loopback), "a".repeat(17 * 1024)),
            &[],
        ),
        ("/flow/redirect/token", "444") => (
            &servers.no_token,
            flow_query("urn:ietf:wg:oauth:2.0:oob"),
            &[],
        ),
        ("/flow/redirect/token", "503") => (&servers.audit_full, flow_query(loopback), &[]),
        ("/token", "503") => (&servers.audit_full, path.to_string(), &[]),
        (_, "406") => (&servers.token, path.to_string(), &[]),
        (_, "421") => (&servers.token, path.to_string(), REBOUND),
        (_, "200" | "301" | "308") => (&servers.token, path.to_string(), GZIP),
        _ => panic!(
            "{path} documents {status}, which this test does not know how to request: \
             add a way to `recipe`, or the reason to NOT_PROVOKABLE"
        ),
    }
}

/// Checks one answer against its documentation; returns the problems found.
fn check(doc: &Value, path: &str, status: &str, spec: &Value, r: &Reply) -> Vec<String> {
    let mut problems = Vec::new();
    let what = format!("GET {path} -> {status}");
    if r.status.to_string() != status {
        problems.push(format!("{what}: answered {}", r.status));
        return problems;
    }
    let content = spec.get("content").and_then(Value::as_object);
    let served = r.header("Content-Type").map(media_type);
    match (content, served) {
        (Some(content), Some((essence, parameters))) => {
            let documented = content.keys().any(|key| {
                let (doc_essence, doc_parameters) = media_type(key);
                doc_essence == essence && doc_parameters.is_subset(&parameters)
            });
            if !documented {
                problems.push(format!(
                    "{what}: Content-Type {:?} is not among the documented {:?}",
                    r.header("Content-Type").unwrap_or_default(),
                    content.keys().collect::<Vec<_>>()
                ));
            }
        }
        (Some(_), None) => problems.push(format!("{what}: no Content-Type")),
        (None, Some(_)) if !r.body.is_empty() => problems.push(format!(
            "{what}: a {:?} body, but no content documented",
            r.header("Content-Type").unwrap_or_default()
        )),
        (None, _) => {}
    }
    if let Some(headers) = spec.get("headers").and_then(Value::as_object) {
        for (name, header) in headers {
            let header = resolve(doc, header);
            match r.header(name) {
                None => problems.push(format!("{what}: documented header {name} missing")),
                Some(value) => {
                    let allowed = header.pointer("/schema/enum").and_then(Value::as_array);
                    if let Some(allowed) = allowed
                        && !allowed.iter().any(|a| a.as_str() == Some(value))
                    {
                        problems.push(format!(
                            "{what}: {name}: {value:?} is not one of {allowed:?}"
                        ));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn every_route_is_documented_and_every_documented_answer_is_given() {
    let doc = document();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let routed = routed_paths();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "answered by the server, missing from swagger.yaml: {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "in swagger.yaml, not routed by the server: {unrouted:?}"
    );

    let servers = Servers {
        token: TestServer::start(&[("T2G_FALLBACK_TOKEN", "openapi-test-token")]),
        no_token: TestServer::start(&[]),
        echo_off: TestServer::start(&[("T2G_ECHO_ENABLED", "false")]),
        audit_full: audit_full(),
    };
    let mut problems = Vec::new();
    let mut requested = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let methods: Vec<&String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.as_str() != "parameters")
            .collect();
        assert_eq!(
            methods,
            ["get"],
            "{path}: the server answers GET (and HEAD) only"
        );
        // Every documented path is answered, and only GET and HEAD are allowed.
        let r = servers
            .token
            .request("POST", path, &[("Content-Length", "0")]);
        if (r.status, r.header("Allow")) != (405, Some("GET, HEAD")) {
            problems.push(format!("POST {path}: {} {:?}", r.status, r.header("Allow")));
        }
        let responses = item["get"]["responses"].as_object().expect("responses");
        for (status, spec) in responses {
            if NOT_PROVOKABLE
                .iter()
                .any(|(p, s, _)| p == path && s == status)
            {
                continue;
            }
            let spec = resolve(&doc, spec);
            let (server, target, headers) = recipe(&servers, path, status);
            let r = server.get(&target, headers);
            requested += 1;
            problems.extend(check(&doc, path, status, spec, &r));
            // HEAD: the same status and content type, no body.
            let head = server.request("HEAD", &target, headers);
            if head.status != r.status
                || head.header("Content-Type") != r.header("Content-Type")
                || !head.body.is_empty()
            {
                problems.push(format!(
                    "HEAD {path}: {} {:?}",
                    head.status,
                    head.header("Content-Type")
                ));
            }
        }
    }
    for (path, status, why) in NOT_PROVOKABLE {
        assert!(
            doc["paths"][path]["get"]["responses"][status].is_object(),
            "NOT_PROVOKABLE names {path} {status} ({why}), which is not documented"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(requested >= documented.len(), "{requested} requests");
    // A path outside the document is not answered.
    assert_eq!(servers.token.get("/not-in-the-document", &[]).status, 404);
}
