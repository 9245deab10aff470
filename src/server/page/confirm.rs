//! The redirect flow's warning page, which asks the person to confirm before a token leaves.

use super::html::{Html, fill};
use super::templates::CONFIRM_TEMPLATE;
use super::ui::{Ui, signed_in};

/// What the warning page shows.
pub(crate) struct Warning<'a> {
    /// `None` in paste mode; else the target's `host[:port]` and path.
    pub destination: Option<(&'a str, &'a str)>,
    /// Every user of the server may receive tokens at the destination (no `{user}`).
    pub shared: bool,
    /// Another site started the request (Fetch Metadata).
    pub cross_site: bool,
    pub code: &'a str,
    /// The query of the confirmed request, percent-encoded; the button links to `?query`.
    pub query: &'a str,
    /// The request carried a confirmation that is not the user's for this request.
    pub mismatch: bool,
}

/// The warning page of the redirect flow, before a paste block, before the token goes to an
/// address every user may use, and before it goes anywhere for a request another site started:
/// the verification code, the destination, the warning, and a link that repeats the request
/// confirmed. It holds no token.
pub(crate) fn render_confirm(ui: &Ui, warning: &Warning<'_>, user: Option<&str>) -> String {
    let (destination, warning_text, button, hint) = match warning.destination {
        None => (
            Html::default(),
            "Continue only if you started <span class=\"inline-code\">token2go --paste</span> \
             (or a notebook) yourself just now and it shows this code. If someone sent you this \
             link, close this page.",
            "Show the encrypted token",
            "The next page shows your token as a block encrypted for that program's key: \
             whoever holds the key can read it.",
        ),
        Some((host, path)) => (
            Html::concat([
                Html::markup(
                    "\n      <p id=\"destination\">Your token is about to be sent to \
                     <span class=\"inline-code\">",
                ),
                Html::text(host),
                Html::markup("</span>, path <span class=\"inline-code\">"),
                Html::text(path),
                Html::markup("</span>"),
                Html::markup(if warning.shared {
                    ": an address every user of this server may receive tokens at, not only you."
                } else {
                    "."
                }),
                Html::markup("</p>"),
            ]),
            "Continue only if you started <span class=\"inline-code\">token2go</span> (or a \
             notebook) yourself just now, it shows this code and that address is yours. If \
             someone sent you this link, close this page.",
            "Send my token there",
            "The token goes there encrypted for that program's key: whoever holds the key can \
             read it.",
        ),
    };
    let cross_site = if warning.cross_site {
        "\n      <p id=\"cross-site\">Another site sent you here, not a program on your \
         computer (after a sign-in, the sign-in page).</p>"
    } else {
        ""
    };
    let destination = Html::concat([destination, Html::markup(cross_site)]);
    let mismatch = if warning.mismatch {
        "\n        <p id=\"mismatch\">The link you followed claimed to be confirmed, but not by \
         you for this request: confirm it here only if the code is yours.</p>"
    } else {
        ""
    };
    fill(
        CONFIRM_TEMPLATE.text(),
        &[
            ("title", Html::text(&ui.title)),
            ("signed_in", signed_in(user)),
            ("code", Html::text(warning.code)),
            ("destination", destination),
            ("warning", Html::markup(warning_text)),
            ("mismatch", Html::markup(mismatch)),
            ("query", Html::text(warning.query)),
            ("button", Html::markup(button)),
            ("hint", Html::markup(hint)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::*;
    use super::*;

    #[test]
    fn confirm_page_for_paste_mode_holds_the_warning_and_no_block() {
        let html = render_confirm(&default_ui(), &paste_warning(), None);
        assert!(html.contains("<p class=\"vcode\" id=\"vcode\">K3ZQ-7MPA</p>"));
        assert!(html.contains(
            "Continue only if you started <span class=\"inline-code\">token2go --paste</span> \
             (or a notebook) yourself just now and it shows this code. If someone sent you this \
             link, close this page."
        ));
        assert!(html.contains(
            "<a class=\"button\" id=\"continue\" href=\"?target=urn%3Aietf&amp;state=s&amp;confirm=abc\">Show the encrypted token</a>"
        ));
        assert!(!html.contains("BEGIN TOKEN2GO") && !html.contains("<textarea"));
        assert!(!html.contains("id=\"destination\"") && !html.contains("id=\"mismatch\""));
        assert!(!html.contains("<script"), "works without JavaScript");
    }

    #[test]
    fn confirm_page_for_a_shared_target_names_host_and_path() {
        let html = render_confirm(&default_ui(), &target_warning(), None);
        assert!(html.contains("<span class=\"inline-code\">hub.example.com:8443</span>"));
        assert!(html.contains("<span class=\"inline-code\">/user/x/&lt;b&gt;</span>"));
        assert!(html.contains("every user of this server"));
        assert!(html.contains(">Send my token there</a>"));
        assert!(html.contains("id=\"mismatch\""));
    }

    #[test]
    fn confirm_page_for_a_request_from_another_site_says_so() {
        let warning = Warning {
            destination: Some(("127.0.0.1:18999", "/x")),
            shared: false,
            cross_site: true,
            ..target_warning()
        };
        let html = render_confirm(&default_ui(), &warning, None);
        assert!(html.contains(
            "<span class=\"inline-code\">127.0.0.1:18999</span>, path \
             <span class=\"inline-code\">/x</span>.</p>"
        ));
        assert!(html.contains("<p id=\"cross-site\">Another site sent you here"));
        assert!(!html.contains("every user of this server"));
        assert!(!render_confirm(&default_ui(), &target_warning(), None).contains("cross-site"));
    }
}
