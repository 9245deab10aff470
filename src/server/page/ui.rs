//! The operator's UI settings as the pages use them, and the "Signed in as" line.

use super::html::Html;
use crate::server::config::UiSettings;

const DEFAULT_TITLE: &str = "Token2go";
/// The reference's default description, kept word for word.
const DEFAULT_DESCRIPTION: &str = "Go ahead and grab a token with the Token2go service";

/// The UI settings (`T2G_UI_*`), resolved once at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ui {
    /// Plain text.
    pub(super) title: String,
    /// Plain text.
    pub(super) desc1: String,
    /// Trusted operator HTML.
    pub(super) desc2_html: Option<Html>,
    /// Trusted operator HTML.
    pub(super) misc_html: Option<Html>,
    /// URL of the page's `curl` example (`T2G_UI_EXAMPLE_URL`); a placeholder when unset.
    pub(super) example_url: Option<String>,
    /// Whether `/echo` answers: the page then points to it when no token is found.
    pub(super) echo_enabled: bool,
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
pub(super) const SIGNED_IN: &str = "{{signed_in}}";

/// "Signed in as `<user>`" under a page's heading, escaped; nothing when the user is unknown.
pub(super) fn signed_in(user: Option<&str>) -> Html {
    user.map(|user| {
        Html::concat([
            Html::markup("\n        <p class=\"signed-in\" id=\"signed-in\">Signed in as <strong>"),
            Html::text(user),
            Html::markup("</strong></p>"),
        ])
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::index::render_index;
    use super::super::render_confirm;
    use super::super::render_done;
    use super::super::render_paste;
    use super::super::test_fixtures::*;
    use super::*;

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
}
