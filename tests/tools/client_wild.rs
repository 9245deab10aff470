//! Both clients the way people call them (issues 16 §2 and 17; contracts C1, C3, C4): the start
//! link instead of the flow URL in the browser's argv, only our own user on the listener, a
//! cache directory others can write to, one browser for many callers, opaque and expired tokens,
//! clock skew, fast failures, status, `--cached-only` and logout. The real server, the stand-in
//! browser, and a connector running as another user (`setpriv`, the tests run as root).

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use crate::clients::{
    Finished, Sandbox, Which, assert_delivered, assert_no_crash, for_both_clients, jwt, mode, run,
    server_url, spawn,
};
use crate::harness::{TestServer, free_port, python_exe, unix_now, unsigned_jwt};

for_both_clients!(
    the_browser_gets_a_start_link_not_the_flow_url,
    a_start_link_opened_twice_ends_the_run,
    connections_from_another_user_are_closed_unanswered,
    an_unsafe_cache_directory_is_refused_with_the_reason,
    a_cached_expiry_later_than_the_jwt_exp_is_not_believed,
    ten_concurrent_cold_calls_open_one_browser,
    an_opaque_token_is_cached_for_max_age,
    non_interactive_kubectl_never_opens_a_browser,
    an_expired_jwt_is_refused_and_not_cached,
    a_two_minute_clock_skew_is_corrected,
    a_browser_opens_at_most_once_per_min_interval,
    a_wrong_url_fails_within_3_s,
    no_token_at_the_gateway_fails_at_once_with_the_servers_description,
    status_cached_only_and_logout,
);

/// The stand-in's records of one kind.
fn records(sandbox: &Sandbox, kind: &str) -> Vec<Value> {
    sandbox
        .standin_log()
        .into_iter()
        .filter(|r| r["kind"] == kind)
        .collect()
}

/// Seconds from the stand-in's last request to the client's exit.
fn exit_after_last_request(done: &Finished, sandbox: &Sandbox) -> f64 {
    let last = sandbox
        .standin_log()
        .iter()
        .filter_map(|r| r["t"].as_f64())
        .fold(f64::MIN, f64::max);
    assert!(last > 0.0, "the stand-in logged no request");
    done.ended.duration_since(UNIX_EPOCH).unwrap().as_secs_f64() - last
}

fn header<'a>(record: &'a Value, name: &str) -> Option<&'a str> {
    record["headers"].as_array()?.iter().find_map(|pair| {
        let pair = pair.as_array()?;
        pair[0]
            .as_str()?
            .eq_ignore_ascii_case(name)
            .then(|| pair[1].as_str())
            .flatten()
    })
}

fn with(mut env: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

// ----- C4: the start link and the peer check ------------------------------------------------------

fn the_browser_gets_a_start_link_not_the_flow_url(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("start-link", 500, 3600);
    let sandbox = Sandbox::new();
    let done = run(which, &["--no-cache", &url], &sandbox.standin_env(&secret));
    assert_delivered(&done, &sandbox, &secret);
    let argv = records(&sandbox, "argv");
    assert_eq!(argv.len(), 1, "{argv:?}");
    let link = argv[0]["argv"].as_array().unwrap().last().unwrap();
    let link = link.as_str().unwrap();
    let path = link
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, path)| path)
        .unwrap_or_else(|| panic!("not a start link: {link}"));
    assert!(
        path.len() >= 22
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{link}"
    );
    let argv_text = argv[0].to_string();
    for secret_part in ["state", "publicKey", "flow/redirect", "BEGIN"] {
        assert!(!argv_text.contains(secret_part), "{argv_text}");
    }
    assert_eq!(done.url(), link, "the printed link is the start link");
    let start = &records(&sandbox, "start")[0];
    assert_eq!(start["status"], 303, "{start}");
    assert_eq!(header(start, "cache-control"), Some("no-store"));
    assert_eq!(header(start, "referrer-policy"), Some("no-referrer"));
    assert!(
        sandbox
            .flow_url()
            .starts_with(&format!("{url}/flow/redirect/token?target="))
    );
}

fn a_start_link_opened_twice_ends_the_run(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("twice", 500, 3600);
    let sandbox = Sandbox::new();
    let env = with(
        sandbox.standin_env(&secret),
        &[("STANDIN_START_TWICE", "1")],
    );
    let done = run(which, &["--timeout", "60", &url], &env);
    let line = done.failed_with("the sign-in link was opened twice");
    assert!(line.contains("someone else on this machine"), "{line}");
    assert!(
        done.elapsed < Duration::from_secs(30),
        "{}",
        done.describe()
    );
    assert_eq!(records(&sandbox, "start-extra")[0]["status"], 303);
    assert_eq!(records(&sandbox, "start")[0]["status"], 400);
    assert_eq!(sandbox.flows(), 0);
    assert!(!sandbox.cache_entry(&url).exists());
}

/// Run as uid 65534 by the browser wrapper: opens 40 connections to the start link's port and
/// requests the start link on each, reports how they ended (JSON on stdout), then keeps them
/// open for 10 s in a child so they would hold the listener's slots if they had been admitted.
const CONNECTOR: &str = r#"
import json, os, socket, sys, time, urllib.parse
link = urllib.parse.urlsplit(sys.argv[1])
socks, result = [], {"answered": 0, "closed": 0, "open": 0, "uid": os.getuid()}
for _ in range(40):
    s = socket.create_connection((link.hostname, link.port), timeout=5)
    try:
        s.sendall(f"GET {link.path} HTTP/1.1\r\nHost: {link.netloc}\r\n\r\n".encode())
    except OSError:
        pass
    socks.append(s)
for s in socks:
    s.settimeout(2)
    try:
        data = s.recv(100)
        result["answered" if data else "closed"] += 1
    except socket.timeout:
        result["open"] += 1
    except OSError:
        result["closed"] += 1
print(json.dumps(result), flush=True)
if os.fork() == 0:
    os.close(1)
    time.sleep(10)
os._exit(0)
"#;

fn connections_from_another_user_are_closed_unanswered(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("other-user", 500, 3600);
    let sandbox = Sandbox::new();
    let result = sandbox.path("connector.json");
    let wrapper = sandbox.path("wrapper-browser");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nfor url; do :; done\n\
             setpriv --reuid 65534 --regid 65534 --clear-groups {python} -c '{CONNECTOR}' \"$url\" > '{result}'\n\
             exec {python} {standin} \"$@\"\n",
            python = python_exe(),
            result = result.display(),
            standin = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/standin_browser.py"),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut env = sandbox.standin_env(&secret);
    env.retain(|(k, _)| k != "BROWSER");
    env.push(("BROWSER".into(), wrapper.display().to_string()));
    let done = run(which, &["--no-cache", "--timeout", "60", &url], &env);
    let report = std::fs::read_to_string(&result).unwrap_or_default();
    let report: Value = serde_json::from_str(report.trim())
        .unwrap_or_else(|_| panic!("connector said {report:?}: {}", done.describe()));
    assert_eq!(report["uid"], 65534, "{report}");
    assert_eq!(
        (&report["answered"], &report["open"], &report["closed"]),
        (&Value::from(0), &Value::from(0), &Value::from(40)),
        "{report}\n{}",
        done.describe()
    );
    // The start link was not used up, and 40 connections did not take the listener's slots.
    assert_delivered(&done, &sandbox, &secret);
    assert_eq!(done.stdout, format!("{secret}\n"));
}

fn an_unsafe_cache_directory_is_refused_with_the_reason(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("unsafe-dir", 500, 3600);
    let sandbox = Sandbox::new();
    let dir = sandbox.cache_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (flows, (loose, owner)) in [(0o770, None), (0o702, None), (0o700, Some(65534))]
        .into_iter()
        .enumerate()
    {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(loose)).unwrap();
        std::os::unix::fs::chown(&dir, owner.or(Some(0)), None).unwrap();
        let done = run(which, &[&url], &sandbox.standin_env(&secret));
        assert_delivered(&done, &sandbox, &secret);
        let dir_text = dir.display().to_string();
        let reason = done
            .stderr
            .lines()
            .find(|line| line.contains(&dir_text))
            .unwrap_or_else(|| panic!("no reason naming the directory: {}", done.describe()));
        assert!(
            reason.starts_with("token2go: ")
                && (reason.contains("writ") || reason.contains("own") || reason.contains("belong")),
            "{reason}"
        );
        assert_eq!(sandbox.flows(), flows + 1, "the cache was not read");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "nothing written: no entry, lock or record"
        );
        // --cached-only cannot work without the cache: exit 1 with that reason.
        let cached_only = run(
            which,
            &["--cached-only", &url],
            &sandbox.refusing_browser_env(),
        );
        cached_only.failed_with(&dir_text);
    }
    std::os::unix::fs::chown(&dir, Some(0), None).unwrap();
    assert!(!sandbox.browser_mark().exists());
}

/// A cache entry written by hand, 0600 in a 0700 directory.
fn plant_entry(sandbox: &Sandbox, url: &str, token: &Value) {
    let dir = sandbox.cache_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let entry = sandbox.cache_entry(url);
    let text = serde_json::json!({"version": 1, "server": url, "token": token}).to_string();
    std::fs::write(&entry, text).unwrap();
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn a_cached_expiry_later_than_the_jwt_exp_is_not_believed(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let sandbox = Sandbox::new();
    let stale = unsigned_jwt(
        &format!(r#"{{"sub":"stale","exp":{}}}"#, unix_now() - 600),
        "c2ln",
    );
    plant_entry(
        &sandbox,
        &url,
        &serde_json::json!({"secret": stale, "expiresAt": "2999-01-01T00:00:00Z"}),
    );
    let status = run(which, &["status", &url], &sandbox.refusing_browser_env());
    assert_eq!(status.code, Some(1), "{}", status.describe());
    let fresh = jwt("fresh", 500, 3600);
    let done = run(which, &[&url], &sandbox.standin_env(&fresh));
    assert_delivered(&done, &sandbox, &fresh);
    assert_eq!(done.stdout, format!("{fresh}\n"), "not the stale token");
    assert_eq!(sandbox.flows(), 1);
}

// ----- C3: one browser for many callers, expiry, skew ----------------------------------------------

fn ten_concurrent_cold_calls_open_one_browser(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("ten", 500, 3600);
    let sandbox = Sandbox::new();
    let env = sandbox.standin_env(&secret);
    let running: Vec<_> = (0..10)
        .map(|_| {
            let mut client = spawn(which, &["--timeout", "120", &url], &env);
            client.close_stdin();
            client
        })
        .collect();
    let done: Vec<Finished> = running.into_iter().map(|c| c.finish()).collect();
    for run in &done {
        assert_delivered(run, &sandbox, &secret);
        assert_eq!(run.stdout, format!("{secret}\n"));
    }
    assert_eq!(records(&sandbox, "argv").len(), 1, "one browser launch");
    assert_eq!(sandbox.flows(), 1);
    let waited = done
        .iter()
        .filter(|d| d.stderr.contains("waiting for another token2go sign-in"))
        .count();
    assert!(waited >= 1, "nobody waited for the lock");
}

fn an_opaque_token_is_cached_for_max_age(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let opaque = format!("opaque-{which:?}-kubectl-token");
    let sandbox = Sandbox::new();
    let info = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":true}}"#;
    let env = with(
        sandbox.standin_env(&opaque),
        &[("KUBERNETES_EXEC_INFO", info)],
    );
    let before = unix_now() as i64;
    let mut expirations = Vec::new();
    for _ in 0..3 {
        let done = run(which, &["--format", "exec-credential", &url], &env);
        assert_delivered(&done, &sandbox, &opaque);
        let credential: Value = serde_json::from_str(&done.stdout).unwrap();
        assert_eq!(credential["status"]["token"], opaque.as_str());
        expirations.push(credential["status"]["expirationTimestamp"].clone());
    }
    assert_eq!(
        sandbox.flows(),
        1,
        "one browser launch for three kubectl calls"
    );
    assert_eq!(expirations[1], expirations[2]);
    let stored: Value =
        serde_json::from_slice(&std::fs::read(sandbox.cache_entry(&url)).unwrap()).unwrap();
    assert_eq!(stored["maxAgeApplied"], true, "{stored}");
    assert_eq!(stored["token"]["expiresAt"], expirations[2]);
    let expiry = parse_rfc3339(expirations[2].as_str().unwrap());
    assert!(
        (before + 300 - 5..=unix_now() as i64 + 300 + 5).contains(&expiry),
        "{expirations:?}"
    );
}

fn parse_rfc3339(text: &str) -> i64 {
    // YYYY-MM-DDTHH:MM:SSZ, through `date`, which the test machine has.
    let out = Command::new("date")
        .args(["-u", "-d", text, "+%s"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn non_interactive_kubectl_never_opens_a_browser(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let sandbox = Sandbox::new();
    let info = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;
    let env = with(
        sandbox.refusing_browser_env(),
        &[("KUBERNETES_EXEC_INFO", info)],
    );
    let done = run(which, &["--format", "exec-credential", &url], &env);
    let line = done.failed_with("in a terminal");
    assert!(line.contains(&url), "{line}");
    assert!(
        done.elapsed < Duration::from_secs(10),
        "{}",
        done.describe()
    );
    assert!(!sandbox.browser_mark().exists());
    // With a valid token cached, the same call prints it.
    let secret = jwt("non-interactive", 500, 3600);
    assert_delivered(
        &run(which, &[&url], &sandbox.standin_env(&secret)),
        &sandbox,
        &secret,
    );
    let done = run(which, &["--format", "exec-credential", &url], &env);
    let credential: Value = serde_json::from_str(done.ok()).unwrap();
    assert_eq!(credential["status"]["token"], secret.as_str());
}

fn an_expired_jwt_is_refused_and_not_cached(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    for (tag, exp) in [("expired", -60i64), ("nearly", 20)] {
        let token = unsigned_jwt(
            &format!(r#"{{"sub":"{tag}","exp":{}}}"#, unix_now() as i64 + exp),
            "c2ln",
        );
        let sandbox = Sandbox::new();
        let done = run(
            which,
            &["--timeout", "60", &url],
            &sandbox.standin_env(&token),
        );
        let line = done.failed_with("expire");
        assert!(line.contains("sign in again"), "{line}");
        assert!(!done.stderr.contains(&token));
        let after = exit_after_last_request(&done, &sandbox);
        assert!(
            after < 1.0,
            "{after} s after the browser's last request: {line}"
        );
        assert!(!sandbox.cache_entry(&url).exists(), "cached");
    }
}

/// libfaketime's preload library, from Debian's `faketime` package (scripts/test.sh installs it).
fn libfaketime() -> String {
    let out = Command::new("sh")
        .args(["-c", "ls /usr/lib/*/faketime/libfaketime.so.1 | head -1"])
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "libfaketime is required (apt-get install faketime)"
    );
    path
}

/// The client's clock runs 2 minutes ahead of the server's (libfaketime in the client process
/// only). A token valid for 100 s would look expired 20 s ago without the correction.
fn a_two_minute_clock_skew_is_corrected(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("skewed", 500, 100);
    let sandbox = Sandbox::new();
    let ahead = [
        ("LD_PRELOAD", libfaketime()),
        ("FAKETIME", "+120".to_string()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_string()),
    ];
    let ahead: Vec<(&str, &str)> = ahead.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = run(which, &[&url], &with(sandbox.standin_env(&secret), &ahead));
    assert_delivered(&done, &sandbox, &secret);
    let said: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains("this machine's clock differs from the server's by"))
        .collect();
    assert_eq!(said.len(), 1, "{}", done.describe());
    let seconds: i64 = said[0]
        .split("by ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", said[0]));
    assert!((115..=125).contains(&seconds), "{}", said[0]);
    let stored: Value =
        serde_json::from_slice(&std::fs::read(sandbox.cache_entry(&url)).unwrap()).unwrap();
    let skew = stored["skew"].as_f64().unwrap_or(0.0);
    assert!((-125.0..=-115.0).contains(&skew), "{stored}");
    // Still 2 minutes ahead: the cached token is valid for about 100 s more, not expired.
    let again = run(
        which,
        &[&url],
        &with(sandbox.refusing_browser_env(), &ahead),
    );
    assert_eq!(again.ok(), format!("{secret}\n"), "{}", again.describe());
    assert!(!sandbox.browser_mark().exists());
    let status = run(
        which,
        &["status", "--format", "json", &url],
        &with(sandbox.env(), &ahead),
    );
    let rows: Value = serde_json::from_str(status.ok()).unwrap();
    let left = rows[0]["remainingSeconds"].as_i64().unwrap();
    assert!((60..=100).contains(&left), "{rows}");
}

fn a_browser_opens_at_most_once_per_min_interval(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("interval", 500, 3600);
    let sandbox = Sandbox::new();
    // A browser that never comes back: the sign-in fails at the timeout.
    let done = run(
        which,
        &["--timeout", "1", &url],
        &sandbox.refusing_browser_env(),
    );
    done.failed_with("no token within 1");
    std::fs::remove_file(sandbox.browser_mark()).unwrap();
    // Within 30 s, a caller without a token fails at once with the holder's failure.
    let done = run(which, &[&url], &sandbox.refusing_browser_env());
    let line = done.failed_with("already in progress or just failed");
    assert!(
        line.contains("no token within 1") && line.contains("--refresh"),
        "{line}"
    );
    assert!(line.contains(&url), "{line}");
    assert!(!sandbox.browser_mark().exists());
    assert!(
        done.elapsed < Duration::from_secs(10),
        "{}",
        done.describe()
    );
    // --refresh opens the browser anyway; TOKEN2GO_MIN_INTERVAL=0 lifts the limit.
    let done = run(which, &["--refresh", &url], &sandbox.standin_env(&secret));
    assert_delivered(&done, &sandbox, &secret);
    run(which, &["logout", &url], &sandbox.env()).ok();
    let env = with(
        sandbox.standin_env(&secret),
        &[("TOKEN2GO_MIN_INTERVAL", "0")],
    );
    assert_delivered(&run(which, &[&url], &env), &sandbox, &secret);
    let record: Value = serde_json::from_slice(
        &std::fs::read(sandbox.cache_entry(&url).with_extension("launch")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["result"], "ok", "{record}");
    assert_eq!(record["server"], url.as_str());
    assert_eq!(
        mode(&sandbox.cache_entry(&url).with_extension("lock")),
        0o600
    );
}

// ----- C1 and fast failures ------------------------------------------------------------------------

fn a_wrong_url_fails_within_3_s(which: Which) {
    let sandbox = Sandbox::new();
    let url = format!("http://127.0.0.1:{}", free_port());
    let done = run(which, &[&url], &sandbox.refusing_browser_env());
    let line = done.failed_with(&url);
    assert!(done.elapsed < Duration::from_secs(3), "{}", done.describe());
    assert!(!sandbox.browser_mark().exists(), "{line}");
}

/// Needs the server's C1 (a flow error redirected to the target with `error`).
fn no_token_at_the_gateway_fails_at_once_with_the_servers_description(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let sandbox = Sandbox::new();
    let mut env = sandbox.standin_env("unused");
    env.retain(|(k, _)| k != "STANDIN_TOKEN");
    let done = run(which, &["--timeout", "60", &url], &env);
    let line = done.failed_with("the server could not hand out a token: ");
    assert!(line.ends_with("(no_token)"), "{line}");
    let after = exit_after_last_request(&done, &sandbox);
    assert!(after < 1.0, "{after} s after the browser's last request");
    assert!(!sandbox.cache_entry(&url).exists());
    assert_no_crash(&done.stderr);
}

// ----- status, --cached-only, logout ---------------------------------------------------------------

fn status_cached_only_and_logout(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("status-user", 500, 3600);
    let sandbox = Sandbox::new();
    let quiet = sandbox.refusing_browser_env();
    let done = run(which, &["status", &url], &quiet);
    assert_eq!(done.code, Some(1), "nothing cached: {}", done.describe());
    run(which, &["--cached-only", &url], &quiet).failed_with(&url);
    assert_delivered(
        &run(which, &[&url], &sandbox.standin_env(&secret)),
        &sandbox,
        &secret,
    );

    let done = run(which, &["status", &url], &quiet);
    let line = done.ok();
    assert!(
        line.contains(&url) && line.contains("status-user"),
        "{line}"
    );
    assert!(!line.contains(&secret));
    let done = run(which, &["status", "--format", "json", &url], &quiet);
    let rows: Value = serde_json::from_str(done.ok()).unwrap();
    assert_eq!(rows[0]["server"], url.as_str(), "{rows}");
    assert_eq!(rows[0]["user"], "status-user", "{rows}");
    assert_eq!(rows[0]["valid"], true, "{rows}");
    let left = rows[0]["remainingSeconds"].as_i64().unwrap();
    assert!((3500..=3600).contains(&left), "{rows}");
    assert!(rows[0]["expiresAt"].is_string(), "{rows}");
    let all = run(which, &["status", "--format", "json"], &quiet);
    let all: Value = serde_json::from_str(all.ok()).unwrap();
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(all[0]["server"], url.as_str(), "{all}");

    assert_eq!(
        run(which, &["--cached-only", &url], &quiet).ok(),
        format!("{secret}\n")
    );
    assert_eq!(run(which, &["logout", &url], &quiet).ok(), "");
    assert!(!sandbox.cache_entry(&url).exists());
    assert_eq!(run(which, &["status", &url], &quiet).code, Some(1));
    run(which, &["--cached-only", &url], &quiet).failed_with(&url);
    // --forget is still there, and logout --all forgets every server.
    let refreshed = run(which, &["--refresh", &url], &sandbox.standin_env(&secret));
    assert_delivered(&refreshed, &sandbox, &secret);
    assert_eq!(run(which, &["--forget", &url], &quiet).ok(), "");
    assert!(!sandbox.cache_entry(&url).exists());
    let refreshed = run(which, &["--refresh", &url], &sandbox.standin_env(&secret));
    assert_delivered(&refreshed, &sandbox, &secret);
    assert_eq!(run(which, &["logout", "--all"], &quiet).ok(), "");
    assert!(!sandbox.cache_entry(&url).exists());
    assert!(!sandbox.browser_mark().exists());
}
