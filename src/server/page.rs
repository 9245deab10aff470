//! HTML pages rendered from the templates in `assets/`: the token page, the flow's warning,
//! paste, form_post and done pages, plus the Content-Security-Policy values the HTML responses
//! carry. The user's name ("Signed in as ...") is escaped into the pages per request.
//!
//! Templates hold `{{name}}` placeholders, filled in one pass so that a value can never introduce
//! a placeholder of its own. Operator text (target, title, first description) is HTML-escaped;
//! the second description and the misc section are trusted operator HTML, inserted as is (as in
//! the reference). The strict CSP still blocks any inline script or style in that HTML. Every
//! value is an [`Html`], whose constructor says which of the three it is.

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::server::config::UiSettings;
use crate::server::inflate;

/// CSP of our own HTML pages: scripts and styles only from files of this server.
pub(crate) const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// CSP of the Swagger UI page: as strict as [`PAGE_CSP`]. Checked in headless Chromium with
/// swagger-ui 5.32.6 (render, expand every operation, "Try it out" and Execute, schema tabs,
/// example selectors, copy button): no violation. React sets styles through the CSSOM, which
/// `style-src` does not govern; the CSS's `data:` images are allowed by `img-src`. Kept as its
/// own constant so the page can be loosened alone (`style-src 'unsafe-inline'` would be the
/// first step) should a later Swagger UI need it; never `unsafe-eval` or inline script.
pub(crate) const SWAGGER_CSP: &str = PAGE_CSP;

/// CSP of the form_post page: [`PAGE_CSP`] with `form-action` allowing `origin` (the target's
/// scheme, host and port, where the form goes) and `'self'`: Chromium applies `form-action` to
/// the redirects that follow a form's submission, and the clients answer the POST with a 303 to
/// this server's `/flow/redirect/done`.
pub(crate) fn form_post_csp(origin: &str) -> String {
    PAGE_CSP.replace(
        "form-action 'none'",
        &format!("form-action {origin} 'self'"),
    )
}

/// A page template from `assets/`, which build.rs stores gzipped (the static binary's size
/// budget); decoded once at start ([`decode_templates`]) and kept.
struct Template {
    gzipped: &'static [u8],
    text: OnceLock<String>,
}

impl Template {
    const fn new(gzipped: &'static [u8]) -> Template {
        Template {
            gzipped,
            text: OnceLock::new(),
        }
    }

    fn text(&self) -> &str {
        self.text.get_or_init(|| {
            // build.rs's own output, decoded and compared with the sources by the unit tests.
            let bytes = inflate::gunzip(self.gzipped).expect("an embedded template decodes");
            String::from_utf8(bytes).expect("an embedded template is UTF-8")
        })
    }
}

static INDEX_TEMPLATE: Template = Template::new(built!("index.html.gz"));
static PASTE_TEMPLATE: Template = Template::new(built!("paste.html.gz"));
static CONFIRM_TEMPLATE: Template = Template::new(built!("confirm.html.gz"));
static DONE_TEMPLATE: Template = Template::new(built!("done.html.gz"));
static FORM_POST_TEMPLATE: Template = Template::new(built!("form-post.html.gz"));

/// Decodes every page template now, at start, so no request pays for the first decoding.
pub(crate) fn decode_templates() {
    for template in [
        &INDEX_TEMPLATE,
        &PASTE_TEMPLATE,
        &CONFIRM_TEMPLATE,
        &DONE_TEMPLATE,
        &FORM_POST_TEMPLATE,
    ] {
        template.text();
    }
}

const DEFAULT_TITLE: &str = "Token2go";
/// The `curl` example's URL when the operator set none (`T2G_UI_EXAMPLE_URL`).
const PLACEHOLDER_EXAMPLE_URL: &str = "https://api.example.com/";
/// The reference's default description, kept word for word.
const DEFAULT_DESCRIPTION: &str = "Go ahead and grab a token with the Token2go service";

/// The UI settings (`T2G_UI_*`), resolved once at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ui {
    /// Plain text.
    title: String,
    /// Plain text.
    desc1: String,
    /// Trusted operator HTML.
    desc2_html: Option<Html>,
    /// Trusted operator HTML.
    misc_html: Option<Html>,
    /// URL of the page's `curl` example (`T2G_UI_EXAMPLE_URL`); a placeholder when unset.
    example_url: Option<String>,
    /// Whether `/echo` answers: the page then points to it when no token is found.
    echo_enabled: bool,
}

impl Ui {
    /// Resolves the settings as the reference does: `title` wins, else `Token2go | <target>`,
    /// else `Token2go`; `desc1` wins, else `Get a token for <target> with the Token2go service`,
    /// else the default description. `target`, `title` and `desc1` are text (escaped when
    /// rendered); `desc2_html` and `misc_html` are trusted HTML. Blank values count as unset.
    /// The token page also gets the example URL and whether `/echo` is on (for its 444 hint).
    pub(crate) fn new(settings: &UiSettings, echo_enabled: bool) -> Ui {
        let target = set(&settings.target);
        let title = match (set(&settings.title), target) {
            (Some(title), _) => title.to_string(),
            (None, Some(target)) => format!("{DEFAULT_TITLE} | {target}"),
            (None, None) => DEFAULT_TITLE.to_string(),
        };
        let desc1 = match (set(&settings.desc1), target) {
            (Some(desc1), _) => desc1.to_string(),
            (None, Some(target)) => format!("Get a token for {target} with the Token2go service"),
            (None, None) => DEFAULT_DESCRIPTION.to_string(),
        };
        Ui {
            title,
            desc1,
            desc2_html: set(&settings.desc2_html).map(Html::trusted),
            misc_html: set(&settings.misc_html).map(Html::trusted),
            example_url: set(&settings.example_url).map(str::to_string),
            echo_enabled,
        }
    }
}

/// An empty or blank setting counts as unset, as everywhere in the configuration.
fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

/// Where the user's name goes in a page; the template has it once.
const SIGNED_IN: &str = "{{signed_in}}";

/// "Signed in as `<user>`" under a page's heading, escaped; nothing when the user is unknown.
fn signed_in(user: Option<&str>) -> Html {
    user.map(|user| {
        Html::concat([
            Html::markup("\n        <p class=\"signed-in\" id=\"signed-in\">Signed in as <strong>"),
            Html::text(user),
            Html::markup("</strong></p>"),
        ])
    })
    .unwrap_or_default()
}

/// The token page, rendered once at start in two halves around the place of "Signed in as":
/// a request then costs one copy, and the operator's texts are never scanned again.
pub(crate) struct IndexPage {
    head: String,
    tail: String,
}

impl IndexPage {
    pub(crate) fn new(ui: &Ui) -> IndexPage {
        // Split the template, not the page: operator text may hold the placeholder's spelling.
        let template = INDEX_TEMPLATE.text();
        let (head, tail) = template.split_once(SIGNED_IN).unwrap_or((template, ""));
        IndexPage {
            head: fill_index(head, ui),
            tail: fill_index(tail, ui),
        }
    }

    pub(crate) fn render(&self, user: Option<&str>) -> String {
        let signed_in = signed_in(user);
        let signed_in = signed_in.as_str();
        let mut page = String::with_capacity(self.head.len() + signed_in.len() + self.tail.len());
        page.push_str(&self.head);
        page.push_str(signed_in);
        page.push_str(&self.tail);
        page
    }
}

/// The token page (`/`, `/index.html`) in one piece. Its script fetches `token` and shows it;
/// it reads the example URL and the echo switch from the body's `data-` attributes.
#[cfg(test)]
pub(crate) fn render_index(ui: &Ui, user: Option<&str>) -> String {
    IndexPage::new(ui).render(user)
}

fn fill_index(template: &str, ui: &Ui) -> String {
    let desc2 = ui
        .desc2_html
        .clone()
        .map(|html| {
            Html::concat([
                Html::markup("<div class=\"desc2\">"),
                html,
                Html::markup("</div>"),
            ])
        })
        .unwrap_or_default();
    let misc = ui
        .misc_html
        .clone()
        .map(|html| {
            Html::concat([
                Html::markup(
                    "<section class=\"card misc\" aria-labelledby=\"misc-heading\">\n      \
                     <h2 id=\"misc-heading\">Miscellaneous</h2>\n      ",
                ),
                html,
                Html::markup("\n    </section>"),
            ])
        })
        .unwrap_or_default();
    let example_url = ui.example_url.as_deref().unwrap_or(PLACEHOLDER_EXAMPLE_URL);
    let example_note = match ui.example_url {
        Some(_) => "",
        None => " The curl line calls an example URL: put your API's in its place.",
    };
    fill(
        template,
        &[
            ("title", Html::text(&ui.title)),
            ("desc1", Html::text(&ui.desc1)),
            ("desc2", desc2),
            ("misc", misc),
            ("example_url", Html::text(example_url)),
            ("example_note", Html::markup(example_note)),
            (
                "echo",
                Html::markup(if ui.echo_enabled { "true" } else { "false" }),
            ),
        ],
    )
}

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

/// A piece of a page's HTML, made only by its constructors: [`Html::text`] escapes text,
/// [`Html::markup`] takes this file's own literal markup, [`Html::trusted`] the operator's
/// trusted HTML (`T2G_UI_DESC2`, `T2G_UI_MISC`). The templates are filled only with these, so
/// text that skipped the escaping does not compile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Html(Cow<'static, str>);

impl Html {
    /// `text` escaped, for element content or a quoted attribute value.
    fn text(text: &str) -> Html {
        Html(Cow::Owned(escape_html(text)))
    }

    /// Markup written in this program: a literal, never data.
    const fn markup(html: &'static str) -> Html {
        Html(Cow::Borrowed(html))
    }

    /// The operator's HTML, trusted as is (the strict CSP still blocks inline script and style).
    fn trusted(operator_html: &str) -> Html {
        Html(Cow::Owned(operator_html.to_string()))
    }

    /// The pieces one after the other.
    fn concat<const N: usize>(parts: [Html; N]) -> Html {
        Html::join(parts, "")
    }

    /// The pieces with `separator` (markup) between them.
    fn join(parts: impl IntoIterator<Item = Html>, separator: &'static str) -> Html {
        let mut out = String::new();
        for (i, part) in parts.into_iter().enumerate() {
            if i > 0 {
                out.push_str(separator);
            }
            out.push_str(&part.0);
        }
        Html(Cow::Owned(out))
    }

    /// The HTML.
    fn as_str(&self) -> &str {
        &self.0
    }
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Replaces each `{{name}}` of `template` by its value, scanning the template once: values are
/// copied verbatim and never scanned. An unknown name is left as is (the tests forbid any).
fn fill(template: &str, values: &[(&str, Html)]) -> String {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let value = after.find("}}").and_then(|end| {
            let name = &after[..end];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (v.as_str(), end + 2))
        });
        match value {
            Some((value, used)) => {
                out.push_str(value);
                rest = &after[used..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ui_of(
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

    fn default_ui() -> Ui {
        Ui::new(&UiSettings::default(), true)
    }

    const TEMPLATES: &[(&str, &str)] = &[
        ("index.html", include_str!("../../assets/index.html")),
        ("paste.html", include_str!("../../assets/paste.html")),
        ("confirm.html", include_str!("../../assets/confirm.html")),
        ("done.html", include_str!("../../assets/done.html")),
        (
            "form-post.html",
            include_str!("../../assets/form-post.html"),
        ),
        (
            "swagger-ui.html",
            include_str!("../../assets/swagger-ui.html"),
        ),
    ];

    /// What the pages are rendered from is what `assets/` holds, byte for byte.
    #[test]
    fn stored_templates_decode_to_their_sources() {
        for (template, (name, source)) in [
            &INDEX_TEMPLATE,
            &PASTE_TEMPLATE,
            &CONFIRM_TEMPLATE,
            &DONE_TEMPLATE,
            &FORM_POST_TEMPLATE,
        ]
        .into_iter()
        .zip(TEMPLATES)
        {
            assert_eq!(template.text(), *source, "{name}");
            assert!(
                template.gzipped.len() < source.len(),
                "{name} is stored compressed"
            );
        }
    }

    const HOSTILE: &str = "<script>alert(\"x\")</script> & 'quoted'";
    const HOSTILE_ESCAPED: &str =
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;";

    fn title_of(html: &str) -> &str {
        let start = html.find("<title>").expect("a <title>") + "<title>".len();
        let end = html[start..].find("</title>").expect("a </title>");
        &html[start..start + end]
    }

    #[test]
    fn escape_html_escapes_the_five_characters() {
        assert_eq!(escape_html(HOSTILE), HOSTILE_ESCAPED);
        assert_eq!(escape_html("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(escape_html(""), "");
    }

    #[test]
    fn default_titles_and_description() {
        let ui = default_ui();
        assert_eq!(ui.title, "Token2go");
        assert_eq!(
            ui.desc1,
            "Go ahead and grab a token with the Token2go service"
        );
        let html = render_index(&ui, None);
        assert_eq!(title_of(&html), "Token2go");
        assert!(html.contains("<h1>Token2go</h1>"));
        assert!(html.contains(
            "<meta name=\"description\" content=\"Go ahead and grab a token with the Token2go service\">"
        ));
    }

    #[test]
    fn target_sets_title_and_description() {
        let ui = ui_of(Some("Acme Data"), None, None, None, None);
        assert_eq!(ui.title, "Token2go | Acme Data");
        assert_eq!(
            ui.desc1,
            "Get a token for Acme Data with the Token2go service"
        );
        let html = render_index(&ui, None);
        assert_eq!(title_of(&html), "Token2go | Acme Data");
        assert!(
            html.contains(
                "<p class=\"lead\">Get a token for Acme Data with the Token2go service</p>"
            )
        );
    }

    #[test]
    fn title_and_desc1_override_target() {
        let ui = ui_of(
            Some("Acme"),
            Some("Acme tokens"),
            Some("Grab it."),
            None,
            None,
        );
        assert_eq!(ui.title, "Acme tokens");
        assert_eq!(ui.desc1, "Grab it.");
        let html = render_index(&ui, None);
        assert_eq!(title_of(&html), "Acme tokens");
        assert!(!html.contains("Token2go | Acme"));
        let only_title = ui_of(None, Some("Only title"), None, None, None);
        assert_eq!(only_title.desc1, DEFAULT_DESCRIPTION);
    }

    #[test]
    fn empty_values_count_as_unset() {
        assert_eq!(
            ui_of(Some(""), Some(" "), Some(""), Some(""), Some("")),
            default_ui()
        );
        let html = render_index(&ui_of(None, None, None, Some(""), Some("")), None);
        assert!(!html.contains("class=\"desc2\""));
        assert!(!html.contains("Miscellaneous"));
    }

    #[test]
    fn text_settings_are_escaped_everywhere() {
        let uis = [
            ui_of(Some(HOSTILE), None, None, None, None),
            ui_of(None, Some(HOSTILE), Some(HOSTILE), None, None),
        ];
        for ui in &uis {
            let pages = [
                render_index(ui, None),
                render_paste(ui, "-----BEGIN TOKEN2GO RESPONSE-----", "ABCD-EFGH", None),
                render_done(ui),
            ];
            for html in &pages {
                assert!(!html.contains("<script>alert"), "unescaped: {html}");
                assert!(!html.contains("\"x\""));
                assert!(html.contains("&lt;script&gt;"));
                assert!(html.contains("&amp; &#39;quoted&#39;"));
            }
        }
        let html = render_index(&uis[1], None);
        assert!(html.contains(&format!("<title>{HOSTILE_ESCAPED}</title>")));
        assert!(html.contains(&format!("content=\"{HOSTILE_ESCAPED}\"")));
    }

    #[test]
    fn example_url_and_echo_reach_the_page_escaped() {
        let html = render_index(&default_ui(), None);
        assert!(html.contains("data-echo=\"true\""), "{html}");
        assert!(html.contains("data-example-url=\"https://api.example.com/\""));
        assert!(html.contains("<span class=\"url\">https://api.example.com/</span>"));
        assert!(html.contains("The curl line calls an example URL"));
        let with_url = |url: &str, echo| {
            let settings = UiSettings {
                example_url: Some(url.to_string()),
                ..UiSettings::default()
            };
            Ui::new(&settings, echo)
        };
        let ui = with_url("https://api.example.com/?a=1&b=\"", false);
        let html = render_index(&ui, None);
        assert!(html.contains("data-echo=\"false\""));
        assert!(html.contains("data-example-url=\"https://api.example.com/?a=1&amp;b=&quot;\""));
        assert!(!html.contains("The curl line calls an example URL"));
        assert_eq!(with_url(" ", true), default_ui());
    }

    #[test]
    fn desc2_and_misc_are_inserted_raw() {
        let desc2 = "See <a href=\"https://docs.example.com/\">the docs</a> &amp; more.";
        let misc = "<ul><li><b>Support</b>: ops@example.com</li></ul>";
        let html = render_index(&ui_of(None, None, None, Some(desc2), Some(misc)), None);
        assert!(html.contains(&format!("<div class=\"desc2\">{desc2}</div>")));
        assert!(html.contains(misc));
        assert!(html.contains("<h2 id=\"misc-heading\">Miscellaneous</h2>"));
    }

    #[test]
    fn values_cannot_inject_placeholders() {
        let ui = ui_of(
            None,
            Some("{{desc2}}"),
            None,
            Some("{{misc}}"),
            Some("<i>m</i>"),
        );
        let html = render_index(&ui, None);
        assert!(html.contains("<h1>{{desc2}}</h1>"));
        assert!(html.contains("<div class=\"desc2\">{{misc}}</div>"));
        assert_eq!(
            fill(
                "a{{x}}b{{y}}c{{",
                &[("x", Html::markup("{{y}}")), ("y", Html::markup("Y"))]
            ),
            "a{{y}}bYc{{"
        );
        assert_eq!(fill("{{unknown}}", &[]), "{{unknown}}");
    }

    #[test]
    fn rendered_pages_fill_every_placeholder() {
        let ui = ui_of(Some("t"), None, None, Some("d"), Some("m"));
        for html in [
            render_index(&ui, None),
            render_index(&ui, Some("alice")),
            render_paste(&ui, "a\nb", "ABCD-EFGH", None),
            render_paste(&ui, "a\nb", "ABCD-EFGH", Some("alice")),
            render_confirm(&ui, &paste_warning(), None),
            render_confirm(&ui, &target_warning(), Some("alice")),
            render_done(&ui),
            render_form_post(
                &ui,
                "http://127.0.0.1:1/cb",
                "http://127.0.0.1:1",
                &[],
                None,
            ),
            render_form_post(
                &ui,
                "http://127.0.0.1:1/cb",
                "http://127.0.0.1:1",
                &[],
                Some(&expired_notice()),
            ),
            render_flow_error(&ui, &expired_notice(), Some("alice")),
        ] {
            assert!(!html.contains("{{") && !html.contains("}}"), "{html}");
            assert!(html.starts_with("<!doctype html>"));
        }
    }

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
    fn form_post_csp_allows_exactly_the_target_origin() {
        let csp = form_post_csp("http://127.0.0.1:8765");
        assert_eq!(
            csp,
            PAGE_CSP.replace(
                "form-action 'none'",
                "form-action http://127.0.0.1:8765 'self'"
            )
        );
        assert!(csp.contains("; form-action http://127.0.0.1:8765 'self'; "));
        assert!(!csp.contains("form-action 'none'") && csp.starts_with("default-src 'none';"));
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

    fn paste_warning() -> Warning<'static> {
        Warning {
            destination: None,
            shared: false,
            cross_site: false,
            code: "K3ZQ-7MPA",
            query: "target=urn%3Aietf&state=s&confirm=abc",
            mismatch: false,
        }
    }

    fn target_warning() -> Warning<'static> {
        Warning {
            destination: Some(("hub.example.com:8443", "/user/x/<b>")),
            shared: true,
            cross_site: false,
            code: "K3ZQ-7MPA",
            query: "target=https%3A%2F%2Fhub&confirm=abc",
            mismatch: true,
        }
    }

    #[test]
    fn signed_in_user_is_escaped_into_the_pages() {
        let ui = default_ui();
        let anonymous = render_index(&ui, None);
        assert!(!anonymous.contains("Signed in as"));
        let html = render_index(&ui, Some(HOSTILE));
        assert!(html.contains(&format!(
            "<p class=\"signed-in\" id=\"signed-in\">Signed in as <strong>{HOSTILE_ESCAPED}</strong></p>"
        )));
        assert!(!html.contains("<script>alert"));
        // The name sits under the heading, nowhere else; the rest of the page is unchanged.
        assert_eq!(
            html.replace(signed_in(Some(HOSTILE)).as_str(), ""),
            anonymous
        );
        let at = html.find("Signed in as").unwrap();
        assert!(html[..at].contains("<p class=\"lead\">") && html[at..].contains("</header>"));
        // A title that spells the placeholder is text, not the place of the name.
        let odd = ui_of(None, Some("{{signed_in}}"), None, None, None);
        let html = render_index(&odd, Some("alice"));
        assert!(html.contains("<title>{{signed_in}}</title>"), "{html}");
        assert_eq!(html.matches("Signed in as").count(), 1);
        for html in [
            render_paste(&ui, "b", "C", Some(HOSTILE)),
            render_confirm(&ui, &paste_warning(), Some(HOSTILE)),
        ] {
            assert!(html.contains(&format!("Signed in as <strong>{HOSTILE_ESCAPED}</strong>")));
        }
    }

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

    /// What a browser downloads for the token page (the icons aside), as the README states it.
    #[test]
    fn page_weight_stays_small() {
        let weight = render_index(&default_ui(), None).len()
            + include_bytes!("../../assets/page.css").len()
            + include_bytes!("../../assets/page.js").len();
        assert!(weight < 48 * 1024, "HTML + CSS + JS = {weight} bytes");
    }

    fn expired_notice() -> ErrorNotice<'static> {
        ErrorNotice {
            description: "the access token expires in less than 30 s: <b>",
            hint: "Sign in again & retry.",
            reauth: Some("/oauth2/sign_in?rd=%2F&x=\"1\""),
        }
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

    /// What the CSP would block or what must never be there: a `<script` without `src` or with
    /// content, a `<style>` element, a `javascript:` URL, an `on...` handler or `style` attribute.
    fn inline_violations(html: &str) -> Vec<String> {
        let lower = html.to_ascii_lowercase();
        let mut found = Vec::new();
        for (at, _) in lower.match_indices("<script") {
            let end = at + lower[at..].find('>').unwrap_or(lower.len() - at);
            if !lower[at..end].contains(" src=\"") || !lower[end..].starts_with("></script>") {
                found.push(format!("inline script at {at}"));
            }
        }
        if lower.contains("<style") {
            found.push("<style> element".to_string());
        }
        if lower.contains("javascript:") {
            found.push("javascript: URL".to_string());
        }
        for (at, _) in lower.match_indices('<') {
            let tag = &lower[at..at + lower[at..].find('>').unwrap_or(lower.len() - at)];
            if tag.starts_with("<!--") {
                continue;
            }
            for attribute in tag.split_whitespace().skip(1) {
                let name = attribute.split('=').next().unwrap_or_default();
                if name.starts_with("on") || name == "style" {
                    found.push(format!("attribute {name} in {tag}"));
                }
            }
        }
        found
    }

    #[test]
    fn templates_and_pages_have_no_inline_script_handlers_or_styles() {
        for (name, template) in TEMPLATES {
            assert_eq!(inline_violations(template), Vec::<String>::new(), "{name}");
        }
        let ui = ui_of(Some("t"), None, None, Some("<b>d</b>"), Some("<i>m</i>"));
        for html in [
            render_index(&ui, None),
            render_paste(&ui, "b", "C", Some("a")),
            render_confirm(&ui, &paste_warning(), Some("a")),
            render_confirm(&ui, &target_warning(), None),
            render_done(&ui),
            render_form_post(
                &ui,
                "http://127.0.0.1:1/cb",
                "http://127.0.0.1:1",
                &[("a", "b")],
                Some(&expired_notice()),
            ),
            render_flow_error(&ui, &expired_notice(), None),
        ] {
            assert_eq!(inline_violations(&html), Vec::<String>::new());
        }
    }

    #[test]
    fn inline_violations_sees_each_kind() {
        let bad = "<script>x()</script><script src=\"a.js\">y</script><style></style>\
                   <p onclick=\"x()\" style=\"color:red\"><a href=\"javascript:x()\">";
        assert_eq!(
            inline_violations(bad).len(),
            6,
            "{:?}",
            inline_violations(bad)
        );
        assert!(inline_violations("<script src=\"a.js\" defer></script>").is_empty());
    }

    #[test]
    fn csp_values() {
        assert_eq!(
            PAGE_CSP,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        );
        for csp in [PAGE_CSP, SWAGGER_CSP] {
            assert!(csp.starts_with("default-src 'none'; script-src 'self'; "));
            assert!(csp.contains("frame-ancestors 'none'"));
            assert!(!csp.contains("unsafe-eval"));
            assert!(!csp.contains('\n') && !csp.contains("  "));
        }
        for csp in [PAGE_CSP, SWAGGER_CSP] {
            assert!(!csp.contains("unsafe-inline"), "{csp}");
            let script_src = csp.split("; ").find(|d| d.starts_with("script-src"));
            assert_eq!(script_src, Some("script-src 'self'"));
        }
    }
}
