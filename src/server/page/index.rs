//! The token page (`/`, `/index.html`), filled with the operator's settings once at start.

use super::html::{Html, fill};
use super::templates::INDEX_TEMPLATE;
use super::ui::{SIGNED_IN, Ui, signed_in};

/// The `curl` example's URL when the operator set none (`T2G_UI_EXAMPLE_URL`).
const PLACEHOLDER_EXAMPLE_URL: &str = "https://api.example.com/";

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
pub(super) fn render_index(ui: &Ui, user: Option<&str>) -> String {
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

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::*;
    use super::*;
    use crate::server::config::UiSettings;

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

    /// What a browser downloads for the token page (the icons aside), as the README states it.
    #[test]
    fn page_weight_stays_small() {
        let weight = render_index(&default_ui(), None).len()
            + include_bytes!("../../../assets/page.css").len()
            + include_bytes!("../../../assets/page.js").len();
        assert!(weight < 48 * 1024, "HTML + CSS + JS = {weight} bytes");
    }
}
