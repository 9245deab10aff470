//! The page templates of `assets/`, stored gzipped in the binary and decoded once.

use std::sync::OnceLock;

use crate::server::inflate;

/// A page template from `assets/`, which build.rs stores gzipped (the static binary's size
/// budget); decoded once at start ([`decode_templates`]) and kept.
pub(super) struct Template {
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

    pub(super) fn text(&self) -> &str {
        self.text.get_or_init(|| {
            // build.rs's own output, decoded and compared with the sources by the unit tests.
            let bytes = inflate::gunzip(self.gzipped).expect("an embedded template decodes");
            String::from_utf8(bytes).expect("an embedded template is UTF-8")
        })
    }
}

pub(super) static INDEX_TEMPLATE: Template = Template::new(built!("index.html.gz"));
pub(super) static PASTE_TEMPLATE: Template = Template::new(built!("paste.html.gz"));
pub(super) static CONFIRM_TEMPLATE: Template = Template::new(built!("confirm.html.gz"));
pub(super) static DONE_TEMPLATE: Template = Template::new(built!("done.html.gz"));
pub(super) static FORM_POST_TEMPLATE: Template = Template::new(built!("form-post.html.gz"));

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

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::*;
    use super::*;

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
}
