//! `--help`.

use crate::client::options::OPTIONS;

/// `--help`, written from the option table the parser reads, so it lists what the parser takes.
pub fn usage() -> String {
    let mut out = String::from(
        "usage: token2go [OPTIONS] [SERVER_URL]\n\
         \x20      token2go status [--format json] [SERVER_URL]\n\
         \x20      token2go logout [SERVER_URL | --all]\n\
         \x20      token2go completions bash|zsh|fish\n\n\
         Fetches your access token from a token2go server through your browser and prints it;\n\
         a valid token is taken from the cache, and concurrent callers share one sign-in.\n\
         stdout carries the result and nothing else; the link, hints and errors go to stderr.\n\n\
         \x20 SERVER_URL              the token2go server, path prefix allowed (default: $TOKEN2GO_URL)\n\
         \x20 status                  the cached tokens (or the named server's): user, expiry, time\n\
         \x20                         left; exit 0 when a valid token is cached for the named server\n\
         \x20 logout                  delete the cached token of SERVER_URL, or of every server (--all)\n\
         \x20 completions SHELL       print the completion script for bash, zsh or fish\n\n",
    );
    for opt in OPTIONS {
        let name = match opt.short {
            Some(short) => format!("-{short}, {}", opt.name),
            None => opt.name.to_string(),
        };
        let head = match opt.value {
            Some(value) => format!("{name} {value}"),
            None => name,
        };
        let mut line = format!("  {head:<24}");
        let mut width = line.len();
        for word in opt.help.split(' ') {
            if width + 1 + word.len() > 100 && width > 26 {
                line.push_str(&format!("\n{:26}", ""));
                width = 26;
            } else if width > 26 {
                line.push(' ');
                width += 1;
            }
            line.push_str(word);
            width += word.len();
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(
        "\nEnvironment: TOKEN2GO_URL (server when SERVER_URL is omitted), BROWSER (command that \
         opens\nthe link; %s is replaced by it, else it is the last argument), XDG_CACHE_HOME \
         (cache location,\nelse ~/.cache), TOKEN2GO_MIN_INTERVAL, TOKEN2GO_MAX_AGE, \
         KUBERNETES_EXEC_INFO (exec-credential\napiVersion; \"interactive\": false never opens \
         a browser).\n\
         Exit status: 0 success, 1 failure, 2 usage error.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lists_every_option() {
        let text = usage();
        for opt in OPTIONS {
            assert!(text.contains(opt.name), "{}", opt.name);
        }
        assert!(text.lines().all(|line| line.len() <= 100), "{text}");
        assert!(text.starts_with("usage: token2go [OPTIONS] [SERVER_URL]\n"));
    }
}
