//! `--help`: how to run the server, and every variable of [`VARIABLES`] with its meaning and
//! default.

use super::{STOP_GRACE, VARIABLES};

/// `--help` text, listing every variable with its default.
pub fn usage() -> String {
    let mut out = format!(
        "token2go-server {}\n\
         Hands the token a gateway put into a request header to a web page, a JSON endpoint\n\
         and the encrypted token redirect flow.\n\n\
         Usage: token2go-server [--help | --version | healthcheck]\n\n\
         Without arguments it serves until SIGTERM or SIGINT, then stops accepting, lets\n\
         requests in flight finish (at most {grace} s) and exits 0. Started by systemd socket\n\
         activation (LISTEN_FDS=1), it serves on the passed socket instead of binding.\n\
         `healthcheck` GETs /health on loopback at T2G_SERVER_PORT: exit 0 on 200, 1\n\
         otherwise, within {probe} s.\n\n\
         Configured only by environment variables (empty means unset):\n",
        env!("CARGO_PKG_VERSION"),
        grace = STOP_GRACE.as_secs(),
        probe = crate::server::healthcheck::TIMEOUT.as_secs(),
    );
    for v in VARIABLES {
        out.push_str(&format!(
            "  {:<30} {}\n  {:<30} default: {}\n",
            v.name, v.meaning, "", v.default
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lists_every_variable_with_default() {
        let u = usage();
        for v in VARIABLES {
            assert!(u.contains(v.name) && u.contains(v.default), "{}", v.name);
        }
        assert!(u.contains("T2G_REDIRECT_ALLOWED_TARGETS"));
    }
}
