//! HTML pages rendered from the templates in `assets/`: the token page, the flow's warning,
//! paste, form_post and done pages, plus the Content-Security-Policy values the HTML responses
//! carry. The user's name ("Signed in as ...") is escaped into the pages per request.
//!
//! Templates hold `{{name}}` placeholders, filled in one pass so that a value can never introduce
//! a placeholder of its own. Operator text (target, title, first description) is HTML-escaped;
//! the second description and the misc section are trusted operator HTML, inserted as is (as in
//! the reference). The strict CSP still blocks any inline script or style in that HTML. Every
//! value is an [`Html`](html::Html), whose constructor says which of the three it is.
//!
//! The files: `html` (the [`Html`](html::Html) type and `fill`), `templates` (the stored
//! templates), `ui` (the operator's settings, "Signed in as"), `index` (the token page),
//! `confirm` (the flow's warning page), `delivery` (the flow's paste, form_post, done and
//! flow-error pages); this file holds the CSPs and the tests that span every page.

mod confirm;
mod delivery;
mod html;
mod index;
mod templates;
#[cfg(test)]
mod test_fixtures;
mod ui;

pub(crate) use confirm::{Warning, render_confirm};
pub(crate) use delivery::{
    ErrorNotice, render_done, render_flow_error, render_form_post, render_paste,
};
pub(crate) use index::IndexPage;
pub(crate) use templates::decode_templates;
pub(crate) use ui::Ui;

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

#[cfg(test)]
mod tests {
    use super::index::render_index;
    use super::test_fixtures::*;
    use super::*;

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
