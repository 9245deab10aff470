//! What the Fetch Metadata rule (issue 16 §1) costs a person, with real Chromium through the real
//! gateway (Apache with `mod_auth_openidc` and the real identity provider, `realparts_apache.rs`):
//! a flow request whose `Sec-Fetch-Site` is neither `none` nor `same-origin` gets token2go's
//! warning page first. The first run of a browser without a gateway session comes back from the
//! provider's sign-in on a cross-site chain, so the page shows once; once signed in, the browser
//! opens the client's start link itself (`Sec-Fetch-Site: none`, kept through the redirect to the
//! gateway) and the token goes without a click.

use serde_json::Value;

use crate::clients::{Sandbox, Which, run};
use crate::harness::python_exe;
use crate::realparts::{Format, SIGNIN_BROWSER, secret_of, signin_env, signin_records};
use crate::realparts_apache::Bed;
use crate::webdriver::one_browser_at_a_time;

/// The Chromium session that the sign-in browser keeps across client runs (`SIGNIN_SESSION`),
/// ended on drop, also when an assertion failed.
struct KeptBrowser {
    file: std::path::PathBuf,
}

impl Drop for KeptBrowser {
    fn drop(&mut self) {
        let _ = std::process::Command::new(python_exe())
            .arg(SIGNIN_BROWSER)
            .arg("--close")
            .arg(&self.file)
            .status();
    }
}

/// One client run through the kept browser: its token and the browser's records.
fn flow(
    which: Which,
    bed: &Bed,
    sandbox: &Sandbox,
    kept: &KeptBrowser,
    extra: &[&str],
) -> (String, Vec<Value>) {
    let _ = std::fs::remove_file(sandbox.path("signin.jsonl"));
    let mut env = signin_env(sandbox, "erin");
    env.push(("SIGNIN_SESSION".into(), kept.file.display().to_string()));
    let mut args = vec!["--timeout", "90", "--format", "json", "--min-interval", "0"];
    args.extend_from_slice(extra);
    args.push(&bed.url);
    let done = run(which, &args, &env);
    let records = signin_records(sandbox);
    assert_eq!(
        done.code,
        Some(0),
        "{}\nbrowser: {records:?}\nfetch metadata: {}\n{}",
        done.describe(),
        bed.fetch_log(),
        bed.logs()
    );
    assert!(records.iter().any(|r| r["event"] == "done"), "{records:?}");
    let (secret, _) = secret_of(&done.stdout);
    assert!(!done.stderr.contains(&secret), "token on stderr");
    (secret, records)
}

fn clicks(records: &[Value]) -> usize {
    records
        .iter()
        .filter(|r| r["action"] == "confirmed")
        .count()
}

/// The flow requests Apache saw, in order: `Sec-Fetch-Site` and status, as "none 302".
fn flow_requests(bed: &Bed) -> Vec<String> {
    bed.fetch_log()
        .lines()
        .filter_map(|line| line.strip_prefix("GET /flow/redirect/token "))
        .map(|rest| {
            let fields: Vec<&str> = rest.split(' ').collect();
            format!("{} {}", fields[0], fields.last().unwrap_or(&""))
        })
        .collect()
}

fn one_click_after_a_fresh_sign_in_then_none(which: Which) {
    let _one = one_browser_at_a_time();
    let bed = Bed::start(Format::Opaque, 3600);
    let sandbox = Sandbox::new();
    let kept = KeptBrowser {
        file: sandbox.path("chromium-session.json"),
    };

    // 1. No gateway session: the provider's login form, then the warning page once.
    let (first, records) = flow(which, &bed, &sandbox, &kept, &[]);
    let context = || {
        format!(
            "browser: {records:#?}\nfetch metadata:\n{}",
            bed.fetch_log()
        )
    };
    assert!(
        records.iter().any(|r| r["action"] == "signed in as erin"),
        "no sign-in at the provider: {}",
        context()
    );
    assert_eq!(clicks(&records), 1, "{}", context());
    // The start link's request (none) goes to the provider (the gateway's 302), comes back
    // cross-site to the warning page (200), and the click on it (same-origin) delivers.
    let requests = flow_requests(&bed);
    assert_eq!(
        requests,
        ["none 302", "cross-site 200", "same-origin 200"],
        "{}",
        context()
    );
    assert_eq!(bed.idp.vouches_for(&first)["sub"], "erin");

    // 2. The same browser, signed in at the gateway: a fresh flow (--refresh) costs no click.
    let (second, records) = flow(which, &bed, &sandbox, &kept, &["--refresh"]);
    let context = || {
        format!(
            "browser: {records:#?}\nfetch metadata:\n{}",
            bed.fetch_log()
        )
    };
    assert!(
        !records
            .iter()
            .any(|r| r["state"] == "login" || r["state"] == "consent"),
        "the gateway session was not kept: {}",
        context()
    );
    assert_eq!(clicks(&records), 0, "{}", context());
    // One flow request, which the browser itself started: the token's form_post page at once.
    assert_eq!(
        flow_requests(&bed)[requests.len()..],
        ["none 200"],
        "{}",
        context()
    );
    // The gateway's session holds one access token, so the flow (the browser's record and
    // Apache's above show it took place) delivers the same one.
    assert_eq!(first, second, "not the gateway session's token");
    assert_eq!(bed.idp.vouches_for(&second)["sub"], "erin");

    let logs = format!(
        "{}\n{}\n{}",
        bed.logs(),
        bed.fetch_log(),
        std::fs::read_to_string(sandbox.path("signin.jsonl")).unwrap_or_default()
    );
    for secret in [&first, &second] {
        assert!(!logs.contains(secret.as_str()), "a token in a log");
    }
}

#[test]
fn rust_client_fetch_metadata_costs_one_click_after_a_fresh_gateway_sign_in_and_none_later() {
    one_click_after_a_fresh_sign_in_then_none(Which::Rust);
}

#[test]
fn python_client_fetch_metadata_costs_one_click_after_a_fresh_gateway_sign_in_and_none_later() {
    one_click_after_a_fresh_sign_in_then_none(Which::Python);
}
