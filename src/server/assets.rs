//! The fixed table of files embedded in the binary. URLs never reach the filesystem: a path is
//! either in this table or not served here.
//!
//! `build.rs` stores the text files gzip-compressed, keeping the static binary near its 2 MiB
//! aim; a client that accepts gzip (every browser) gets the stored bytes with
//! `Content-Encoding: gzip`.
//! Our own files are decoded for the others ([`Coding::Gzip`]). Swagger UI's bundle and CSS,
//! third-party files that `build.rs` takes from the `utoipa-swagger-ui-vendored`
//! build-dependency, are not: decoding 1.7 MB per request for a client that cannot read them
//! anyway (they are a browser's) is not worth it, so such a client gets `406`
//! ([`Coding::GzipOnly`], see [`accepts_gzip`]).

use crate::server::page::SWAGGER_CSP;

/// How an embedded file is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coding {
    /// As is.
    Identity,
    /// Gzip-compressed; decoded for clients that do not accept gzip.
    Gzip,
    /// Gzip-compressed; `406` for clients that do not accept gzip.
    GzipOnly,
}

/// One embedded file.
#[derive(Debug)]
pub(crate) struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// How `body` is stored; a compressed one goes out with `Content-Encoding: gzip` to clients
    /// that accept it, and with `Vary: Accept-Encoding` always.
    pub coding: Coding,
    /// Content-Security-Policy for this response (set exactly for HTML documents); `None` keeps
    /// the baseline `frame-ancestors 'none'`.
    pub csp: Option<&'static str>,
    pub cache_control: &'static str,
}

/// Revalidate every time: our own small files change with every release of the binary.
const NO_CACHE: &str = "no-cache";
/// Icons and Swagger UI's files: large or rarely changed, same URL across releases.
const ONE_DAY: &str = "public, max-age=86400";

/// An icon, stored as is (its format is compressed already).
const fn icon(content_type: &'static str, body: &'static [u8]) -> Asset {
    Asset {
        content_type,
        body,
        coding: Coding::Identity,
        csp: None,
        cache_control: ONE_DAY,
    }
}

/// One of our own text files, gzipped by build.rs.
const fn own(content_type: &'static str, gzipped: &'static [u8]) -> Asset {
    Asset {
        content_type,
        body: gzipped,
        coding: Coding::Gzip,
        csp: None,
        cache_control: NO_CACHE,
    }
}

/// One of our own HTML documents, gzipped by build.rs, with its Content-Security-Policy.
const fn page(gzipped: &'static [u8], csp: &'static str) -> Asset {
    Asset {
        csp: Some(csp),
        ..own("text/html; charset=utf-8", gzipped)
    }
}

/// A Swagger UI file, gzipped by build.rs.
const fn swagger_ui(content_type: &'static str, gzipped: &'static [u8]) -> Asset {
    Asset {
        content_type,
        body: gzipped,
        coding: Coding::GzipOnly,
        csp: None,
        cache_control: ONE_DAY,
    }
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const PNG: &str = "image/png";

/// Every embedded file by its URL path. Rendered pages (`/`, `/index.html`, the flow pages) are
/// not here: they come from `crate::server::page`.
static ASSETS: &[(&str, Asset)] = &[
    (
        "/favicon.ico",
        icon("image/x-icon", include_bytes!("../../assets/favicon.ico")),
    ),
    (
        "/favicon.svg",
        icon("image/svg+xml", include_bytes!("../../assets/favicon.svg")),
    ),
    (
        "/favicon-16x16.png",
        icon(PNG, include_bytes!("../../assets/favicon-16x16.png")),
    ),
    (
        "/favicon-32x32.png",
        icon(PNG, include_bytes!("../../assets/favicon-32x32.png")),
    ),
    (
        "/apple-touch-icon.png",
        icon(PNG, include_bytes!("../../assets/apple-touch-icon.png")),
    ),
    ("/static/page.css", own(CSS, built!("page.css.gz"))),
    ("/static/page.js", own(JS, built!("page.js.gz"))),
    ("/static/form-post.js", own(JS, built!("form-post.js.gz"))),
    (
        "/swagger.yaml",
        own("application/yaml", built!("swagger.yaml.gz")),
    ),
    (
        "/swagger-ui/",
        page(built!("swagger-ui.html.gz"), SWAGGER_CSP),
    ),
    (
        "/swagger-ui/swagger-initializer.js",
        own(JS, built!("swagger-initializer.js.gz")),
    ),
    (
        "/swagger-ui/swagger-page.css",
        own(CSS, built!("swagger-page.css.gz")),
    ),
    (
        "/swagger-ui/swagger-ui-bundle.js",
        swagger_ui(JS, built!("swagger-ui-bundle.js.gz")),
    ),
    (
        "/swagger-ui/swagger-ui.css",
        swagger_ui(CSS, built!("swagger-ui.css.gz")),
    ),
];

/// The embedded file at `path` (the URL path without the query, as received), if any.
/// Matching is exact: no decoding, no normalisation, no prefix matching.
pub(crate) fn lookup(path: &str) -> Option<&'static Asset> {
    ASSETS
        .iter()
        .find(|(asset_path, _)| *asset_path == path)
        .map(|(_, asset)| asset)
}

/// Whether a client with this `Accept-Encoding` value takes a gzip-encoded body. `gzip` (or its
/// alias `x-gzip`) with a q-value above 0 says yes, with `q=0` no; when neither is listed, `*`
/// decides; elements with a malformed q-value are ignored (RFC 9110 §12.5.3).
///
/// Deliberately stricter than the RFC in one case: no header at all counts as "no gzip". The RFC
/// lets a server pick any coding then, but clients that send nothing (curl without
/// `--compressed`, small scripts) mostly cannot decode; a clear `406` beats compressed bytes they
/// would take for the file. Every browser sends the header.
pub(crate) fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(value) = accept_encoding else {
        return false;
    };
    let mut gzip: Option<bool> = None;
    let mut any: Option<bool> = None;
    for element in value.split(',') {
        let mut parts = element.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let mut weight = Some(true);
        for parameter in parts {
            if let Some((name, value)) = parameter.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                weight = parse_qvalue(value.trim()).map(|q| q > 0);
            }
        }
        let Some(accepted) = weight else {
            continue;
        };
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            // Several gzip elements: any one with q > 0 accepts (a client sending
            // `gzip;q=0, gzip` is contradicting itself; be generous, it can decode).
            gzip = Some(gzip.unwrap_or(false) || accepted);
        } else if coding == "*" {
            any = Some(any.unwrap_or(false) || accepted);
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Swagger UI release embedded by build.rs (from the swagger-ui zip's top folder), for NOTICE,
    /// `--version` and the like.
    const SWAGGER_UI_VERSION: &str = env!("SWAGGER_UI_DIST_VERSION");

    /// Every embedded path, in table order (for tests and route listings).
    fn paths() -> impl Iterator<Item = &'static str> {
        ASSETS.iter().map(|(path, _)| *path)
    }
    use std::io::Read;

    /// zlib's reading (flate2), independent of our decoder.
    fn gunzip(body: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut plain)
            .expect("valid gzip");
        plain
    }

    /// The body as served to a client that decoded it.
    fn plain(asset: &Asset) -> Vec<u8> {
        match asset.coding {
            Coding::Identity => asset.body.to_vec(),
            Coding::Gzip | Coding::GzipOnly => gunzip(asset.body),
        }
    }

    fn plain_text(path: &str) -> String {
        String::from_utf8(plain(lookup(path).unwrap())).unwrap()
    }

    /// Every compressed file of ours decodes, with our decoder as with zlib's, to its source in
    /// `assets/` byte for byte.
    #[test]
    fn our_compressed_files_decode_to_their_sources() {
        let sources: &[(&str, &[u8])] = &[
            ("/static/page.css", include_bytes!("../../assets/page.css")),
            ("/static/page.js", include_bytes!("../../assets/page.js")),
            (
                "/static/form-post.js",
                include_bytes!("../../assets/form-post.js"),
            ),
            ("/swagger.yaml", include_bytes!("../../assets/swagger.yaml")),
            (
                "/swagger-ui/",
                include_bytes!("../../assets/swagger-ui.html"),
            ),
            (
                "/swagger-ui/swagger-initializer.js",
                include_bytes!("../../assets/swagger-initializer.js"),
            ),
            (
                "/swagger-ui/swagger-page.css",
                include_bytes!("../../assets/swagger-page.css"),
            ),
        ];
        let own: Vec<&str> = ASSETS
            .iter()
            .filter(|(_, a)| a.coding == Coding::Gzip)
            .map(|(path, _)| *path)
            .collect();
        assert_eq!(own, sources.iter().map(|(p, _)| *p).collect::<Vec<_>>());
        for (path, source) in sources {
            let asset = lookup(path).unwrap();
            assert!(
                asset.body.len() < source.len() || source.len() < 200,
                "{path}"
            );
            assert_eq!(
                crate::server::inflate::gunzip(asset.body).unwrap(),
                *source,
                "{path}"
            );
            assert_eq!(gunzip(asset.body), *source, "{path}");
        }
    }

    #[test]
    fn every_entry_is_non_empty_and_typed_by_its_extension() {
        assert!(paths().count() >= 13);
        for (path, asset) in ASSETS {
            assert!(!asset.body.is_empty(), "{path} is empty");
            let body = plain(asset);
            let expected = match path.rsplit_once('.').map(|(_, ext)| ext) {
                Some("ico") => "image/x-icon",
                Some("svg") => "image/svg+xml",
                Some("png") => PNG,
                Some("css") => CSS,
                Some("js") => JS,
                Some("yaml") => "application/yaml",
                _ => "text/html; charset=utf-8",
            };
            assert_eq!(asset.content_type, expected, "{path}");
            let html = expected.starts_with("text/html");
            assert_eq!(asset.csp.is_some(), html, "{path}");
            assert!(!asset.cache_control.is_empty(), "{path}");
            // Magic numbers: the bytes are what the type says.
            match expected {
                PNG => assert!(body.starts_with(b"\x89PNG\r\n\x1a\n"), "{path}"),
                "image/x-icon" => assert!(body.starts_with(&[0, 0, 1, 0]), "{path}"),
                "image/svg+xml" => assert!(body.starts_with(b"<svg "), "{path}"),
                _ => assert!(std::str::from_utf8(&body).is_ok(), "{path} is not UTF-8"),
            }
        }
    }

    #[test]
    fn lookup_is_exact() {
        assert!(lookup("/favicon.ico").is_some());
        assert!(lookup("/swagger-ui/").is_some());
        for path in [
            "/swagger-ui",
            "/swagger-ui/index.html",
            "/FAVICON.ICO",
            "/favicon.ico/",
            "/static/../favicon.ico",
            "/static/%70age.css",
            "//favicon.ico",
            "/static/",
            "/",
            "",
            "/assets/page.css",
            "/Cargo.toml",
        ] {
            assert!(lookup(path).is_none(), "{path}");
        }
    }

    #[test]
    fn icons_have_their_stated_sizes() {
        // PNG width and height are the first two fields of IHDR, at bytes 16..24.
        for (path, side) in [
            ("/favicon-16x16.png", 16u32),
            ("/favicon-32x32.png", 32),
            ("/apple-touch-icon.png", 180),
        ] {
            let body = lookup(path).unwrap().body;
            let width = u32::from_be_bytes(body[16..20].try_into().unwrap());
            let height = u32::from_be_bytes(body[20..24].try_into().unwrap());
            assert_eq!((width, height), (side, side), "{path}");
        }
        let ico = lookup("/favicon.ico").unwrap().body;
        assert_eq!(u16::from_le_bytes([ico[4], ico[5]]), 3, "three images");
    }

    #[test]
    fn gzip_entries_decompress_to_swagger_ui() {
        let bundle = lookup("/swagger-ui/swagger-ui-bundle.js").unwrap();
        assert_eq!(bundle.coding, Coding::GzipOnly);
        let js = String::from_utf8(gunzip(bundle.body)).expect("UTF-8 JavaScript");
        assert!(js.len() > 1_000_000, "the full bundle, not a stub");
        assert!(js.contains("SwaggerUIBundle"));
        let css = lookup("/swagger-ui/swagger-ui.css").unwrap();
        assert_eq!(css.coding, Coding::GzipOnly);
        let css = String::from_utf8(gunzip(css.body)).expect("UTF-8 CSS");
        assert!(css.contains(".swagger-ui"));
        // Only these two are refused to clients without gzip.
        let gzip_only = ASSETS.iter().filter(|(_, a)| a.coding == Coding::GzipOnly);
        assert_eq!(gzip_only.count(), 2);
        assert!(SWAGGER_UI_VERSION.starts_with("5."), "{SWAGGER_UI_VERSION}");
        // NOTICE names the embedded release: a new Swagger UI must come with a new NOTICE.
        let notice = include_str!("../../NOTICE");
        assert!(notice.contains(&format!("Swagger UI {SWAGGER_UI_VERSION},")));
        assert!(notice.contains(&format!("swagger-ui-dist {SWAGGER_UI_VERSION})")));
    }

    #[test]
    fn html_entries_carry_their_csp() {
        let swagger = lookup("/swagger-ui/").unwrap();
        assert_eq!(swagger.csp, Some(SWAGGER_CSP));
        let html = plain_text("/swagger-ui/");
        for referenced in [
            "swagger-ui-bundle.js",
            "swagger-ui.css",
            "swagger-initializer.js",
            "swagger-page.css",
        ] {
            assert!(html.contains(&format!("\"{referenced}\"")), "{referenced}");
            assert!(lookup(&format!("/swagger-ui/{referenced}")).is_some());
        }
        let init = plain_text("/swagger-ui/swagger-initializer.js");
        assert!(init.contains("\"../swagger.yaml\""));
        assert!(init.contains("validatorUrl: null"));
    }

    #[test]
    fn swagger_yaml_describes_every_route() {
        let yaml = plain_text("/swagger.yaml");
        assert!(yaml.starts_with("openapi: 3.0.3\n"));
        let version = format!("\n  version: {}\n", env!("CARGO_PKG_VERSION"));
        assert!(
            yaml.contains(&version),
            "info.version is the crate's version"
        );
        let routes = [
            "/",
            "/index.html",
            "/token",
            "/health",
            "/echo",
            "/metrics",
            "/flow/redirect/token",
            "/flow/redirect/done",
        ];
        for path in routes.into_iter().chain(paths()) {
            assert!(
                yaml.contains(&format!("\n  {path}:\n")),
                "{path} missing from swagger.yaml"
            );
        }
    }

    #[test]
    fn accepts_gzip_parses_codings_and_qvalues() {
        let yes = [
            Some("gzip"),
            Some("gzip, deflate, br, zstd"),
            Some("GZIP"),
            Some("x-gzip"),
            Some("br;q=1.0, gzip;q=0.8, *;q=0.1"),
            Some("gzip;q=0.001"),
            Some("gzip ; q=1"),
            Some("*"),
            Some("identity;q=0, *"),
            Some("deflate, gzip;q=1.000"),
        ];
        let no = [
            None,
            Some(""),
            Some("identity"),
            Some("br, deflate"),
            Some("gzip;q=0"),
            Some("gzip;q=0.000"),
            Some("gzip; Q=0"),
            Some("gzip;q=0, *"),
            Some("*;q=0"),
            Some("br, *;q=0"),
            Some("gzip;q=abc"),
            Some("gzip;q=1.5"),
            Some("gzip;q=0.1234"),
            Some("gzip;q=2"),
            Some("gzipx"),
        ];
        for value in yes {
            assert!(accepts_gzip(value), "{value:?} should accept gzip");
        }
        for value in no {
            assert!(!accepts_gzip(value), "{value:?} should refuse gzip");
        }
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.05"), Some(50));
        assert_eq!(parse_qvalue("0."), Some(0));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("1.001"), None);
        assert_eq!(parse_qvalue("-0"), None);
        assert_eq!(parse_qvalue(""), None);
        assert_eq!(parse_qvalue("0.+1"), None);
    }
}
