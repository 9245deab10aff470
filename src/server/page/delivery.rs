//! How the redirect flow's outcome reaches the person and the program that asked: the paste
//! block, the form_post page that POSTs the token (or why none comes) to the target, the done
//! page after it, and the flow-error page.

use super::html::{Html, fill};
use super::templates::{DONE_TEMPLATE, FORM_POST_TEMPLATE, PASTE_TEMPLATE};
use super::ui::{Ui, signed_in};

/// The paste-mode page of the redirect flow: the armoured `block` (shown as is, escaped) and the
/// `verification_code` (`XXXX-XXXX`), with the warning to paste it only into one's own program.
pub(crate) fn render_paste(
    ui: &Ui,
    block: &str,
    verification_code: &str,
    user: Option<&str>,
) -> String {
    let rows = block.lines().count().clamp(3, 40).to_string();
    fill(
        PASTE_TEMPLATE.text(),
        &[
            ("title", Html::text(&ui.title)),
            ("signed_in", signed_in(user)),
            ("code", Html::text(verification_code)),
            ("rows", Html::text(&rows)),
            ("block", Html::text(block)),
        ],
    )
}

/// Why the flow hands out no token, as its pages tell the person.
pub(crate) struct ErrorNotice<'a> {
    /// The `error_description` the client gets too.
    pub description: &'a str,
    /// What to do about it, text.
    pub hint: &'a str,
    /// Where to sign in again (`T2G_REAUTH_URL` filled in), when the operator set one.
    pub reauth: Option<&'a str>,
}

fn notice_html(notice: &ErrorNotice<'_>) -> Html {
    let link = notice
        .reauth
        .map(|url| {
            Html::concat([
                Html::markup(
                    "\n      <div class=\"actions\"><a class=\"button\" id=\"reauth\" href=\"",
                ),
                Html::text(url),
                Html::markup("\">Sign in again</a></div>"),
            ])
        })
        .unwrap_or_default();
    Html::concat([
        Html::markup(
            "\n      <div class=\"notice error\" role=\"alert\" id=\"flow-error\">\n        \
             <p><strong>The server could not hand out a token: ",
        ),
        Html::text(notice.description),
        Html::markup(".</strong></p>\n        <p>"),
        Html::text(notice.hint),
        Html::markup("</p>\n      </div>"),
        link,
    ])
}

/// The form_post page: a form that POSTs `fields` (name, value) to `action`, the target; its
/// origin is named on the page. With `notice`, the fields tell the client why no token comes
/// (a flow error), and the page tells the person.
pub(crate) fn render_form_post(
    ui: &Ui,
    action: &str,
    origin: &str,
    fields: &[(&str, &str)],
    notice: Option<&ErrorNotice<'_>>,
) -> String {
    let inputs = fields.iter().map(|(name, value)| {
        Html::concat([
            Html::markup("        <input type=\"hidden\" name=\""),
            Html::text(name),
            Html::markup("\" value=\""),
            Html::text(value),
            Html::markup("\">"),
        ])
    });
    let inputs = Html::join(inputs, "\n");
    let (lead, heading, what, notice) = match notice {
        None => (
            "Handing the encrypted token to the program that asked for it.",
            "Delivering the token",
            "the encrypted token",
            Html::default(),
        ),
        Some(notice) => (
            "Telling the program that asked for a token why none comes.",
            "No token was handed out",
            "the reason",
            notice_html(notice),
        ),
    };
    fill(
        FORM_POST_TEMPLATE.text(),
        &[
            ("title", Html::text(&ui.title)),
            ("lead", Html::markup(lead)),
            ("heading", Html::markup(heading)),
            ("notice", notice),
            ("action", Html::text(action)),
            ("what", Html::markup(what)),
            ("origin", Html::text(origin)),
            ("fields", inputs),
        ],
    )
}

/// The page of `/flow/redirect/done`: "Token delivered. You can close this tab."
pub(crate) fn render_done(ui: &Ui) -> String {
    fill(
        DONE_TEMPLATE.text(),
        &[
            ("title", Html::text(&ui.title)),
            ("tab", Html::markup("Token delivered")),
            ("page", Html::markup("done")),
            ("signed_in", Html::default()),
            ("heading", Html::markup("Token delivered.")),
            ("body", Html::markup("<p>You can close this tab.</p>")),
        ],
    )
}

/// A flow error the person reads (paste mode, or no token to confirm the warning page with):
/// why no token came and, when the operator set one, a link to sign in again.
pub(crate) fn render_flow_error(ui: &Ui, notice: &ErrorNotice<'_>, user: Option<&str>) -> String {
    fill(
        DONE_TEMPLATE.text(),
        &[
            ("title", Html::text(&ui.title)),
            ("tab", Html::markup("No token")),
            ("page", Html::markup("flow-error")),
            ("signed_in", signed_in(user)),
            ("heading", Html::markup("No token was handed out")),
            ("body", notice_html(notice)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::*;
    use super::*;

    #[test]
    fn form_post_page_carries_the_fields_escaped() {
        let html = render_form_post(
            &default_ui(),
            "http://127.0.0.1:8765/cb?a=1&b=\"2\"",
            "http://127.0.0.1:8765",
            &[("key", "K+/="), ("state", "\"><script>x</script>")],
            None,
        );
        assert!(html.contains("<title>Delivering the token &middot; Token2go</title>"));
        assert!(html.contains("Your browser sends the encrypted token to"));
        assert!(!html.contains("flow-error"));
        assert!(html.contains(
            "<form id=\"deliver\" method=\"post\" action=\"http://127.0.0.1:8765/cb?a=1&amp;b=&quot;2&quot;\">"
        ));
        assert!(html.contains("<input type=\"hidden\" name=\"key\" value=\"K+/=\">"));
        assert!(html.contains(
            "<input type=\"hidden\" name=\"state\" value=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\">"
        ));
        assert!(html.contains("<script src=\"../../static/form-post.js\" defer></script>"));
        assert!(
            html.contains("<button type=\"submit\""),
            "works without JavaScript"
        );
    }

    #[test]
    fn paste_page_shows_block_code_and_warning() {
        let block =
            "-----BEGIN TOKEN2GO RESPONSE-----\nQUJD.REVG.R0hJ\n-----END TOKEN2GO RESPONSE-----";
        let html = render_paste(&default_ui(), block, "K3ZQ-7MPA", None);
        assert!(html.contains(&format!(">{block}</textarea>")));
        assert!(html.contains("rows=\"3\""));
        assert!(html.contains("<p class=\"vcode\" id=\"vcode\">K3ZQ-7MPA</p>"));
        assert!(html.contains(
            "Paste this only into a program you started yourself, and only if it shows the same verification code"
        ));
        assert!(html.contains("id=\"copy\""));
        // Honest: the block is the token for whoever holds the key, not "useless to anyone".
        assert!(
            html.contains("whoever holds that program&#39;s private key can read it")
                || html.contains("whoever holds that program's private key can read it")
        );
        assert!(!html.contains("useless"));
        // A hostile block cannot close the textarea.
        let html = render_paste(&default_ui(), "</textarea><script>x</script>", "A", None);
        assert!(html.contains("&lt;/textarea&gt;&lt;script&gt;"));
    }

    #[test]
    fn flow_error_pages_say_why_and_link_to_sign_in_again() {
        let notice = expired_notice();
        let fields = [("error", "token_expired"), ("state", "s")];
        let form = render_form_post(
            &default_ui(),
            "http://127.0.0.1:1/cb",
            "http://127.0.0.1:1",
            &fields,
            Some(&notice),
        );
        let page = render_flow_error(&default_ui(), &notice, None);
        for html in [&form, &page] {
            assert!(html.contains(
                "<p><strong>The server could not hand out a token: the access token expires \
                 in less than 30 s: &lt;b&gt;.</strong></p>"
            ));
            assert!(html.contains("<p>Sign in again &amp; retry.</p>"));
            assert!(html.contains(
                "<a class=\"button\" id=\"reauth\" href=\"/oauth2/sign_in?rd=%2F&amp;x=&quot;1&quot;\">Sign in again</a>"
            ));
        }
        assert!(form.contains("<input type=\"hidden\" name=\"error\" value=\"token_expired\">"));
        assert!(form.contains("<title>No token was handed out &middot; Token2go</title>"));
        assert!(page.contains("<title>No token &middot; Token2go</title>"));
        assert!(!page.contains("<form") && !page.contains("<script"));
        let without = ErrorNotice {
            reauth: None,
            ..expired_notice()
        };
        assert!(!render_flow_error(&default_ui(), &without, None).contains("id=\"reauth\""));
    }

    #[test]
    fn done_page_says_delivered() {
        let html = render_done(&ui_of(Some("Acme"), None, None, None, None));
        assert!(html.contains("Token delivered."));
        assert!(html.contains("You can close this tab."));
        assert!(title_of(&html).ends_with("Token2go | Acme"));
    }
}
