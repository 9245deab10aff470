//! Inputs the page tests share: UI settings, hostile text, warnings, notices, the templates.

use super::{ErrorNotice, Ui, Warning};
use crate::server::config::UiSettings;

pub(super) fn ui_of(
    target: Option<&str>,
    title: Option<&str>,
    desc1: Option<&str>,
    desc2_html: Option<&str>,
    misc_html: Option<&str>,
) -> Ui {
    let own = |v: Option<&str>| v.map(str::to_string);
    Ui::new(
        &UiSettings {
            target: own(target),
            title: own(title),
            desc1: own(desc1),
            desc2_html: own(desc2_html),
            misc_html: own(misc_html),
            example_url: None,
        },
        true,
    )
}

pub(super) fn default_ui() -> Ui {
    Ui::new(&UiSettings::default(), true)
}

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("index.html", include_str!("../../../assets/index.html")),
    ("paste.html", include_str!("../../../assets/paste.html")),
    ("confirm.html", include_str!("../../../assets/confirm.html")),
    ("done.html", include_str!("../../../assets/done.html")),
    (
        "form-post.html",
        include_str!("../../../assets/form-post.html"),
    ),
    (
        "swagger-ui.html",
        include_str!("../../../assets/swagger-ui.html"),
    ),
];

pub(super) const HOSTILE: &str = "<script>alert(\"x\")</script> & 'quoted'";
pub(super) const HOSTILE_ESCAPED: &str =
    "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;";

pub(super) fn title_of(html: &str) -> &str {
    let start = html.find("<title>").expect("a <title>") + "<title>".len();
    let end = html[start..].find("</title>").expect("a </title>");
    &html[start..start + end]
}

pub(super) fn paste_warning() -> Warning<'static> {
    Warning {
        destination: None,
        shared: false,
        cross_site: false,
        code: "K3ZQ-7MPA",
        query: "target=urn%3Aietf&state=s&confirm=abc",
        mismatch: false,
    }
}

pub(super) fn target_warning() -> Warning<'static> {
    Warning {
        destination: Some(("hub.example.com:8443", "/user/x/<b>")),
        shared: true,
        cross_site: false,
        code: "K3ZQ-7MPA",
        query: "target=https%3A%2F%2Fhub&confirm=abc",
        mismatch: true,
    }
}

pub(super) fn expired_notice() -> ErrorNotice<'static> {
    ErrorNotice {
        description: "the access token expires in less than 30 s: <b>",
        hint: "Sign in again & retry.",
        reauth: Some("/oauth2/sign_in?rd=%2F&x=\"1\""),
    }
}
