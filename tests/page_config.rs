//! `T2G_UI_EXAMPLE_URL` and `T2G_ECHO_ENABLED` as the token page receives them, through the
//! real binary (the page's behaviour with them is in `tests/page_browser.rs`).

mod common;

use common::{run_to_exit, TestServer};

#[test]
fn example_url_must_be_an_absolute_http_url() {
    for bad in [
        "api.example.com/v1",
        "ftp://files.example.com/",
        "https://a.example/x y",
    ] {
        let out = run_to_exit(&[("T2G_UI_EXAMPLE_URL", bad)], &[]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains("T2G_UI_EXAMPLE_URL") && stderr.contains("http:// or https://"),
            "{stderr}"
        );
    }
}

#[test]
fn the_page_carries_the_example_url_and_the_echo_switch() {
    let s = TestServer::start(&[(
        "T2G_UI_EXAMPLE_URL",
        "https://api.example.org/v2/items?limit=1&x=y",
    )]);
    let page = s.get("/", &[]).text();
    assert!(page.contains("data-echo=\"true\""), "{page}");
    assert!(page.contains("data-example-url=\"https://api.example.org/v2/items?limit=1&amp;x=y\""));
    assert!(!page.contains("The curl line calls an example URL"));
    assert!(!s.output().contains("unknown variable"), "{}", s.output());

    let s = TestServer::start(&[("T2G_ECHO_ENABLED", "false")]);
    let page = s.get("/", &[]).text();
    assert!(page.contains("data-echo=\"false\""));
    assert!(page.contains("data-example-url=\"https://api.example.com/\""));
    assert!(page.contains("The curl line calls an example URL"));
}
