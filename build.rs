//! Compresses what the binary embeds, into OUT_DIR, where src/server/assets.rs and src/server/page/templates.rs include it.
//!
//! - The two Swagger UI files the `/swagger-ui/` page needs. Swagger UI is third-party code and is
//!   never committed here: it arrives in the zip that the `utoipa-swagger-ui-vendored`
//!   build-dependency carries (the swagger-ui 5.32.6 source archive, whose `dist/` folder is what
//!   npm publishes as swagger-ui-dist). We take only the bundle JS and the CSS and gzip them with
//!   Zopfli (about 1.7 MB become about 0.42 MB in the binary; zlib's best level gives 0.44 MB).
//! - Our own text files in `assets/` (templates, scripts, styles, the OpenAPI document): about
//!   88 KB that Zopfli makes about 26 KB, which the 2 MiB budget of the static binary needs.

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

/// Our own text files in `assets/`, gzipped under the same name plus `.gz`.
const OWN_FILES: &[&str] = &[
    "index.html",
    "paste.html",
    "confirm.html",
    "form-post.html",
    "done.html",
    "swagger-ui.html",
    "page.js",
    "page.css",
    "form-post.js",
    "swagger-initializer.js",
    "swagger-page.css",
    "swagger.yaml",
];

/// Zopfli's passes per block. Measured on the 1.5 MB bundle: 5 passes give 398,124 bytes in 1.4 s,
/// Zopfli's default of 15 gives 398,030 bytes in 2.7 s; zlib's best level gives 412,935. The
/// static binary is at its 2 MiB budget: 15, for the 94 bytes.
const ZOPFLI_ITERATIONS: u64 = 15;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    pack_relocations_of_static_builds();
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
    // `cargo run` hands the rustc-env variables to the program it starts as well: a `T2G_`
    // name would make the server warn about an unknown variable at every start.
    println!("cargo:rustc-env=SWAGGER_UI_DIST_VERSION={version}");

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

    for name in OWN_FILES {
        let source = format!("assets/{name}");
        println!("cargo:rerun-if-changed={source}");
        let plain =
            fs::read(&source).unwrap_or_else(|e| fail(&format!("cannot read {source}: {e}")));
        let out_name = format!("{name}.gz");
        fs::write(Path::new(&out_dir).join(&out_name), gzip(&plain))
            .unwrap_or_else(|e| fail(&format!("cannot write {out_name}: {e}")));
    }
}

/// A static glibc build is a static position-independent executable that relocates itself at
/// start: its table of relative relocations (`.rela.dyn`, 24 bytes each) is about 50 KB, which
/// the 2 MiB budget of issue 8 cannot spare. Packed as DT_RELR it is about 1 KB: glibc 2.36
/// relocates such a static binary (it carries that glibc inside), and both linkers that build
/// it here understand the option (lld, Rust's default on x86_64, and GNU ld from 2.38). Dynamic
/// builds keep the default: DT_RELR would need glibc 2.36 on the machine that runs them.
fn pack_relocations_of_static_builds() {
    // crt-static comes from RUSTFLAGS; without these lines cargo would keep this decision from
    // an earlier build with other flags.
    for flags in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
        "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
    ] {
        println!("cargo:rerun-if-env-changed={flags}");
    }
    let cfg = |name: &str| env::var(name).unwrap_or_default();
    let static_gnu = cfg("CARGO_CFG_TARGET_OS") == "linux"
        && cfg("CARGO_CFG_TARGET_ENV") == "gnu"
        && cfg("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|feature| feature == "crt-static");
    if static_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
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
