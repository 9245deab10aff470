//! The unknown-variable check: a `T2G_*` name that is not in [`VARIABLES`] is ignored with a
//! warning, which names the closest known variable when one is near (a typo's likely meaning).

use super::variables::{VARIABLES, known};
use crate::text::edit_distance;

/// One warning per unknown `T2G_*` name, with the closest known name when one is near.
pub(super) fn unknown_variable_warnings<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    names
        .filter(|n| n.starts_with("T2G_") && known(n).is_none())
        .map(|n| match closest_variable(n) {
            Some(known) => format!("unknown variable {n} ignored; did you mean {known}?"),
            None => format!("unknown variable {n} ignored"),
        })
        .collect()
}

/// The nearest known name, ignoring ASCII case (the table's names are upper case).
fn closest_variable(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_uppercase();
    VARIABLES
        .iter()
        .map(|v| (edit_distance(&name, v.name), v.name))
        .filter(|(d, _)| *d <= 4)
        .min_by_key(|(d, _)| *d)
        .map(|(_, known)| known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_variables_get_a_suggestion() {
        let w = unknown_variable_warnings(
            [
                "T2G_TOKEN_HEADER_NAME",
                "T2G_SERVER_PORT",
                "T2G_COMPLETELY_DIFFERENT_THING",
                "PATH",
            ]
            .into_iter(),
        );
        assert_eq!(w.len(), 2);
        assert!(
            w[0].contains("did you mean T2G_TOKEN_HEADER_NAMES?"),
            "{}",
            w[0]
        );
        assert!(!w[1].contains("did you mean"), "{}", w[1]);
        let w = unknown_variable_warnings(["T2G_SERVER_PROT"].into_iter());
        assert!(w[0].contains("T2G_SERVER_PORT"));
        // Case is ignored in the comparison, and the name is shown as given.
        let w = unknown_variable_warnings(["T2G_server_port"].into_iter());
        assert_eq!(
            w,
            ["unknown variable T2G_server_port ignored; did you mean T2G_SERVER_PORT?"]
        );
    }

    #[test]
    fn edit_distance_known_answers() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn redirect_allowed_targets_is_a_known_variable() {
        assert!(unknown_variable_warnings(["T2G_REDIRECT_ALLOWED_TARGETS"].into_iter()).is_empty());
        let w = unknown_variable_warnings(["T2G_REDIRECT_ALLOWED_TARGET"].into_iter());
        assert_eq!(
            w,
            [
                "unknown variable T2G_REDIRECT_ALLOWED_TARGET ignored; did you mean T2G_REDIRECT_ALLOWED_TARGETS?"
            ]
        );
    }
}
