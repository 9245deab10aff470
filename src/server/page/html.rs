//! The pieces pages are made of: [`Html`], escaped text or this module's own markup or the
//! operator's trusted HTML, told apart by constructor, and [`fill`], which puts them into a
//! template's `{{name}}` placeholders. The constructors are visible only inside `page`, so no
//! other code can make HTML that skipped the escaping.

use std::borrow::Cow;

/// A piece of a page's HTML, made only by its constructors: [`Html::text`] escapes text,
/// [`Html::markup`] takes this module's own literal markup, [`Html::trusted`] the operator's
/// trusted HTML (`T2G_UI_DESC2`, `T2G_UI_MISC`). The templates are filled only with these, so
/// text that skipped the escaping does not compile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Html(Cow<'static, str>);

impl Html {
    /// `text` escaped, for element content or a quoted attribute value.
    pub(super) fn text(text: &str) -> Html {
        Html(Cow::Owned(escape_html(text)))
    }

    /// Markup written in this program: a literal, never data.
    pub(super) const fn markup(html: &'static str) -> Html {
        Html(Cow::Borrowed(html))
    }

    /// The operator's HTML, trusted as is (the strict CSP still blocks inline script and style).
    pub(super) fn trusted(operator_html: &str) -> Html {
        Html(Cow::Owned(operator_html.to_string()))
    }

    /// The pieces one after the other.
    pub(super) fn concat<const N: usize>(parts: [Html; N]) -> Html {
        Html::join(parts, "")
    }

    /// The pieces with `separator` (markup) between them.
    pub(super) fn join(parts: impl IntoIterator<Item = Html>, separator: &'static str) -> Html {
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
    pub(super) fn as_str(&self) -> &str {
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
pub(super) fn fill(template: &str, values: &[(&str, Html)]) -> String {
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
    use super::super::index::render_index;
    use super::super::test_fixtures::*;
    use super::*;

    #[test]
    fn escape_html_escapes_the_five_characters() {
        assert_eq!(escape_html(HOSTILE), HOSTILE_ESCAPED);
        assert_eq!(escape_html("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(escape_html(""), "");
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
}
