//! Embeds the two Swagger UI files the `/swagger-ui/` page needs.
//!
//! Swagger UI is third-party code and is never committed here: it arrives in the zip that the
//! `utoipa-swagger-ui-vendored` build-dependency carries (the swagger-ui 5.32.6 source archive,
//! whose `dist/` folder is what npm publishes as swagger-ui-dist). We take only the bundle JS and
//! the CSS, gzip them with Zopfli (about 1.7 MB become about 0.42 MB in the binary; zlib's best
//! level gives 0.44 MB) and write them to OUT_DIR, where src/assets.rs includes them.

use std::env;
use std::fs;
use std::io::{Cursor, Read};
use std::num::NonZeroU64;
use std::path::Path;

/// Files taken from the archive's `dist/` folder, and the name they get in OUT_DIR.
const FILES: &[(&str, &str)] = &[
    ("dist/swagger-ui-bundle.js", "swagger-ui-bundle.js.gz"),
    ("dist/swagger-ui.css", "swagger-ui.css.gz"),
];

/// Zopfli's passes per block. Measured on the 1.5 MB bundle: 5 passes give 398,124 bytes in 1.4 s,
/// Zopfli's default of 15 gives 398,030 bytes in 2.7 s; zlib's best level gives 412,935.
const ZOPFLI_ITERATIONS: u64 = 5;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let zip_bytes = utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED;
    let mut archive = zip::ZipArchive::new(Cursor::new(zip_bytes))
        .unwrap_or_else(|e| fail(&format!("cannot open the Swagger UI zip: {e}")));

    // The archive has one top-level folder named after the release (`swagger-ui-5.32.6/`);
    // derive it rather than hard-code it, so a new release of the crate keeps working.
    let root = archive
        .file_names()
        .find_map(|name| Some(name.ok()?.split_once('/')?.0.to_string()))
        .unwrap_or_else(|| fail("the Swagger UI zip has no top-level folder"));
    let version = root
        .strip_prefix("swagger-ui-")
        .unwrap_or(&root)
        .to_string();
    println!("cargo:rustc-env=T2G_SWAGGER_UI_VERSION={version}");

    for (inner, out_name) in FILES {
        let name = format!("{root}/{inner}");
        let mut entry = archive
            .by_name(&name)
            .unwrap_or_else(|e| fail(&format!("{name} missing from the Swagger UI zip: {e}")));
        let mut plain = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut plain)
            .unwrap_or_else(|e| fail(&format!("cannot read {name}: {e}")));
        fs::write(Path::new(&out_dir).join(out_name), gzip(&plain))
            .unwrap_or_else(|e| fail(&format!("cannot write {out_name}: {e}")));
    }
}

/// Gzip with Zopfli: the output is ordinary gzip (any browser inflates it), only searched harder,
/// which matters because these bytes are most of the binary's assets. Zopfli writes a zero mtime,
/// so the output is reproducible.
fn gzip(plain: &[u8]) -> Vec<u8> {
    let options = zopfli::Options {
        iteration_count: NonZeroU64::new(ZOPFLI_ITERATIONS).expect("a non-zero constant"),
        ..zopfli::Options::default()
    };
    let mut out = Vec::with_capacity(plain.len() / 3);
    zopfli::compress(options, zopfli::Format::Gzip, plain, &mut out)
        .unwrap_or_else(|e| fail(&format!("gzip failed: {e}")));
    out
}

fn fail(message: &str) -> ! {
    panic!("build.rs: {message}");
}
