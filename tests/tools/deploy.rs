//! The deployment artefacts, each tested against the real thing: the static release binaries from
//! scripts/build-dist.sh (size, static linking, checksums, an empty root), the Dockerfile
//! (hadolint), the systemd units (systemd-analyze, and each hardening setting approximated
//! without systemd), the Kubernetes manifest (kubernetes-validate, measured memory), and the nginx
//! auth_request recipe end to end. A test whose tool is missing fails; scripts/test.sh installs
//! them all. Everything talks to loopback only, and every process started here is killed by the
//! guard that started it.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::harness::{
    self, Reply, SERVER_BIN, TempDir, TestServer, enc, free_port, python_decrypt, python_exe,
    python_keypair, python_ok, send_signal, tool,
};
use crate::nginx::Nginx;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// How long a request to a server here may take: one runs under strace.
const PATIENCE: Duration = Duration::from_secs(20);
/// Issue 8: the static server with every asset embedded aims at 2 MiB; 2.25 MiB is the ceiling.
/// The features of issues 15 to 18 (flow errors to the client, expiry headers, Fetch Metadata,
/// atomic audit lines, audit required, lenient PEM, absolute-form targets, the page's `Html`
/// type, a larger page.js and swagger.yaml) took it from 2,094,600 to 2,124,552 bytes (static
/// glibc), +20.1 KB of it code; cuts that keep every feature (metrics and /echo without
/// BTreeMaps, one `log::fit` instead of one per escape, Zopfli 15) won back 25 KB, to 2,099,208;
/// the reshape and four small cuts (non-generic bodies, no `Duration` `Debug`) to 2,095,400, just
/// under the aim. About 110 KB is std's backtrace symbolizer and about 60 KB glibc's
/// scanf/strtod/translit, which stable Rust cannot drop; lld's `--icf=all` saves only 5 KB and
/// is not proven safe on static glibc. The ceiling stays, since a 2 KB margin is one feature.
const MAX_SERVER_BYTES: u64 = 2 * 1024 * 1024 + 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Helpers: commands, flow requests.

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Runs a command that must succeed; returns its stdout.
fn run_ok(command: &mut Command) -> String {
    let out = run(command);
    assert!(
        out.status.success(),
        "{command:?} failed with {}:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A flow request to a loopback callback with a `bits`-bit SubjectPublicKeyInfo key.
fn flow_url(bits: usize, pem: &str) -> String {
    harness::flow_url(
        "http://127.0.0.1:43210/callback",
        "st",
        &format!("rsa{bits}-rfc5280-x509-pem"),
        pem,
    )
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(REPO).join(path))
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Release binaries.

pub(crate) struct Dist {
    dir: PathBuf,
    /// What build-dist.sh printed.
    log: String,
    pub server: PathBuf,
}

/// Runs scripts/build-dist.sh once for all tests of this binary (this file's and
/// container.rs's).
pub(crate) fn dist() -> &'static Dist {
    static DIST: OnceLock<Dist> = OnceLock::new();
    DIST.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dist");
        let _ = std::fs::remove_dir_all(&dir);
        let out = run(Command::new(tool("bash"))
            .arg(Path::new(REPO).join("scripts/build-dist.sh"))
            .arg(&dir)
            .current_dir(REPO));
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "build-dist.sh failed:\n{log}");
        let server = std::fs::read_dir(&dir)
            .expect("dist dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("token2go-server-"))
            })
            .unwrap_or_else(|| panic!("no token2go-server-* in {}:\n{log}", dir.display()));
        Dist { dir, log, server }
    })
}

/// True when the ELF file asks for a program interpreter (PT_INTERP), i.e. is dynamically linked.
fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF file");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().expect("8 bytes")) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(elf[at..at + 4].try_into().expect("4 bytes")) == 3
    })
}

#[test]
fn build_dist_makes_static_stripped_binaries_with_checksums() {
    let dist = dist();
    let version = env!("CARGO_PKG_VERSION");
    let arch = std::env::consts::ARCH;
    assert!(
        dist.log.contains("(static glibc;") || dist.log.contains("(musl"),
        "build-dist.sh says which libc it links: {}",
        dist.log
    );

    // Every file SHA256SUMS names, and `sha256sum -c` accepts them.
    let sums = std::fs::read_to_string(dist.dir.join("SHA256SUMS")).expect("SHA256SUMS");
    run_ok(
        Command::new(tool("sha256sum"))
            .args(["--check", "--strict", "SHA256SUMS"])
            .current_dir(&dist.dir),
    );
    let names: Vec<&str> = sums
        .lines()
        .map(|l| l.split_once("  ").expect("sha256sum line").1)
        .collect();
    let server_name = format!("token2go-server-{version}-linux-{arch}");
    let client_name = format!("token2go-{version}-linux-{arch}");
    assert!(names.contains(&server_name.as_str()), "{sums}");
    if !names.contains(&client_name.as_str()) {
        assert!(
            dist.log.contains("skipping the token2go client"),
            "{}",
            dist.log
        );
    }

    for name in names {
        let path = dist.dir.join(name);
        let description = run_ok(Command::new(tool("file")).arg("-b").arg(&path));
        assert!(
            description.contains("statically linked") || description.contains("static-pie linked"),
            "{name}: {description}"
        );
        assert!(description.contains(", stripped"), "{name}: {description}");
        let bytes = std::fs::read(&path).expect("read binary");
        assert!(!has_interpreter(&bytes), "{name} has a PT_INTERP header");
    }

    let size = dist.server.metadata().expect("server binary").len();
    assert!(
        size <= MAX_SERVER_BYTES,
        "static server is {size} bytes, over {MAX_SERVER_BYTES}"
    );
    let version_line = run_ok(Command::new(&dist.server).arg("--version"));
    assert_eq!(version_line.trim(), format!("token2go-server {version}"));
}

/// An empty directory holding nothing but the static server, as `/token2go-server`.
fn empty_root(dir: &TempDir) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir(&root).expect("create root");
    std::fs::copy(&dist().server, root.join("token2go-server")).expect("copy server");
    root
}

#[test]
fn static_server_serves_from_an_empty_root_as_an_unprivileged_user() {
    let dir = TempDir::new("emptyroot");
    let root = empty_root(&dir);
    let chroot = tool("chroot");
    let as_nobody = |command: &mut Command| {
        command
            .env_clear()
            .arg("--userspec=65534:65534")
            .arg(&root)
            .arg("/token2go-server");
    };

    let mut version = Command::new(&chroot);
    as_nobody(&mut version);
    let out = run_ok(version.arg("--version"));
    assert_eq!(
        out.trim(),
        format!("token2go-server {}", env!("CARGO_PKG_VERSION"))
    );

    // Serving: no /etc, /dev, /proc, /tmp or libraries; randomness comes from getrandom(2).
    let port = free_port();
    let mut command = Command::new(&chroot);
    as_nobody(&mut command);
    command
        .env("T2G_SERVER_HOST", "127.0.0.1")
        .env("T2G_SERVER_PORT", port.to_string())
        .env("T2G_FALLBACK_TOKEN", "empty-root-token");
    let server =
        TestServer::spawn(command, SocketAddr::from(([127, 0, 0, 1], port))).with_timeout(PATIENCE);

    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("server's /proc status");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains("65534")),
        "{status}"
    );
    let health = server.get("/health", &[]);
    assert_eq!(health.status, 200, "{}", server.output());
    let token = server.get("/token", &[]);
    assert_eq!(token.status, 200, "{}", server.output());
    assert!(
        token.text().contains("\"secret\":\"empty-root-token\""),
        "{}",
        token.text()
    );
    let (private, pem) = python_keypair(&dir, 2048, "spki");
    let flow = server.get(&flow_url(2048, &pem), &[]);
    assert_eq!(flow.status, 303, "{}\n{}", flow.text(), server.output());
    let plain = python_decrypt(
        &private,
        &["--url", flow.header("Location").expect("Location")],
        b"",
    );
    assert!(plain.contains("empty-root-token"), "{plain}");

    // The image's HEALTHCHECK: the same binary, same user, same empty root, same variables.
    let healthcheck = |expected: i32| {
        let mut probe = Command::new(&chroot);
        as_nobody(&mut probe);
        let out = run(probe
            .arg("healthcheck")
            .env("T2G_SERVER_HOST", "127.0.0.1")
            .env("T2G_SERVER_PORT", port.to_string()));
        assert_eq!(
            out.status.code(),
            Some(expected),
            "healthcheck: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    healthcheck(0);
    drop(server);
    healthcheck(1);

    let entries: Vec<_> = std::fs::read_dir(&root)
        .expect("root")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(entries, ["token2go-server"], "the server wrote nothing");
}

// ---------------------------------------------------------------------------------------------
// Container.

#[test]
fn dockerfile_lints_clean_and_builds_a_scratch_image_for_the_builders_architecture() {
    let out = run(Command::new(tool("hadolint"))
        .arg("Dockerfile")
        .current_dir(REPO));
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let dockerfile = repo_file("Dockerfile");
    let lines: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let position = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("Dockerfile lacks `{prefix}`"))
    };

    // A builder pinned to a Rust release, not a floating tag such as rust:1 or rust:latest.
    let builder = lines[position("FROM rust:")];
    let tag = builder["FROM rust:".len()..]
        .split_whitespace()
        .next()
        .expect("a tag");
    let version = tag.split('-').next().expect("a version");
    assert_eq!(version.split('.').count(), 3, "pinned x.y.z: {builder}");
    assert!(
        version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{builder}"
    );

    // The builder's own architecture, mapped from BuildKit's TARGETARCH.
    assert!(lines.contains(&"ARG TARGETARCH"), "{dockerfile}");
    assert!(
        dockerfile.contains("amd64) echo x86_64-unknown-linux-gnu")
            && dockerfile.contains("arm64) echo aarch64-unknown-linux-gnu"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("target-feature=+crt-static"));

    // Dependency layer: the manifests are copied and built (with a stub build script) before
    // the build script, the sources and the assets it reads; container.rs replays the steps.
    let manifests = position("COPY Cargo.toml Cargo.lock ./");
    let build_script = position("COPY build.rs");
    let sources = position("COPY src");
    assert!(manifests < build_script && build_script < sources);
    assert!(
        lines[manifests..build_script]
            .iter()
            .any(|l| l.contains("cargo build")),
        "dependencies built between the manifests and the sources"
    );

    // The default is the full multi-stage build; SERVER_FROM=dist takes build-dist.sh's binary.
    assert!(lines.contains(&"ARG SERVER_FROM=build"), "{dockerfile}");
    assert!(
        lines.contains(&"FROM ${SERVER_FROM} AS server"),
        "{dockerfile}"
    );

    // The final stage: nothing but the binary.
    let last_from = lines
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("FROM");
    assert_eq!(lines[last_from], "FROM scratch");
    let final_stage = &lines[last_from..];
    for expected in [
        "USER 65532:65532",
        "EXPOSE 8080",
        "ENTRYPOINT [\"/token2go-server\"]",
        "CMD [\"/token2go-server\", \"healthcheck\"]",
    ] {
        assert!(
            final_stage.contains(&expected),
            "final stage lacks `{expected}`"
        );
    }
    assert!(
        final_stage.iter().any(|l| l.starts_with("HEALTHCHECK")),
        "HEALTHCHECK"
    );

    let dockerignore = repo_file(".dockerignore");
    assert!(dockerignore.lines().any(|l| l.trim() == "target/"));
}

// ---------------------------------------------------------------------------------------------
// systemd.

const SERVICE: &str = "assets/systemd/token2go-server.service";
const SOCKET: &str = "assets/systemd/token2go-server.socket";

/// The units in a temp dir, ExecStart pointed at the static binary (verify needs it to exist).
fn units_in(dir: &TempDir) -> PathBuf {
    let service = repo_file(SERVICE);
    let exec = "ExecStart=/usr/local/bin/token2go-server";
    assert_eq!(service.matches(exec).count(), 1, "{SERVICE}: {exec}");
    let service = service.replace(exec, &format!("ExecStart={}", dist().server.display()));
    std::fs::write(dir.join("token2go-server.service"), service).expect("write service");
    std::fs::write(dir.join("token2go-server.socket"), repo_file(SOCKET)).expect("write socket");
    dir.join("token2go-server.service")
}

/// `Key=value` lines of a unit, in order.
fn unit_settings(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn systemd_units_verify_and_the_service_rates_at_most_2() {
    let dir = TempDir::new("units");
    let service = units_in(&dir);
    let analyze = tool("systemd-analyze");

    let out = run(Command::new(&analyze)
        .arg("verify")
        .arg(dir.join("token2go-server.socket"))
        .arg(&service));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify:\n{stderr}");
    assert!(
        !stderr.contains("token2go"),
        "verify complains about our units:\n{stderr}"
    );

    let out = run(Command::new(&analyze)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&service));
    let report = String::from_utf8_lossy(&out.stdout);
    let level: f64 = report
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for token2go-server.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in:\n{report}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(level <= 2.0, "exposure {level} > 2.0:\n{report}");

    let settings = unit_settings(&repo_file(SERVICE));
    let has = |key: &str, value: &str| settings.iter().any(|(k, v)| k == key && v == value);
    for (key, value) in [
        ("EnvironmentFile", "/etc/token2go/token2go.env"),
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateDevices", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6"),
        ("SystemCallFilter", "@system-service"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
        ("Requires", "token2go-server.socket"),
    ] {
        assert!(has(key, value), "{SERVICE} lacks {key}={value}");
    }
    let socket = unit_settings(&repo_file(SOCKET));
    assert!(socket.iter().any(|(k, _)| k == "ListenStream"));
    assert!(
        socket.iter().any(|(k, v)| k == "Accept" && v == "no"),
        "one server process gets the listening socket as fd 3"
    );
}

#[test]
fn example_env_file_names_only_variables_the_server_knows() {
    let env = repo_file("assets/systemd/token2go.env");
    let help = run_ok(Command::new(SERVER_BIN).arg("--help"));
    let mut vars = Vec::new();
    for line in env.lines().map(str::trim).filter(|l| !l.is_empty()) {
        // Commented-out examples must name real variables too.
        let assignment = line.strip_prefix('#').unwrap_or(line);
        let Some((name, value)) = assignment.split_once('=') else {
            continue;
        };
        if !name.starts_with("T2G_") {
            continue;
        }
        assert!(help.contains(name), "{name} is not a token2go variable");
        if !line.starts_with('#') {
            vars.push((name.to_string(), value.to_string()));
        }
    }
    assert!(
        vars.iter()
            .any(|(n, v)| n == "T2G_TOKEN_HEADER_NAMES" && v == "X-Forwarded-Access-Token")
    );

    // The server starts with exactly this environment, without a warning about it.
    let refs: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let server = TestServer::start(&refs).with_timeout(PATIENCE);
    assert_eq!(server.get("/health", &[]).status, 200);
    assert_eq!(server.get("/echo", &[]).status, 404, "echo is off");
    let out = server.output();
    assert!(
        !out.contains("unknown variable") && !out.contains("did you mean"),
        "{out}"
    );
}

/// Every system call in a named systemd group, nested groups expanded.
fn syscall_group(analyze: &Path, group: &str, seen: &mut BTreeSet<String>) -> BTreeSet<String> {
    let listing = run_ok(Command::new(analyze).args(["syscall-filter", "--no-pager", group]));
    let mut calls = BTreeSet::new();
    for line in listing.lines().skip(1).map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('@') {
            if seen.insert(line.to_string()) {
                calls.extend(syscall_group(analyze, line, seen));
            }
        } else {
            calls.insert(line.to_string());
        }
    }
    calls
}

/// The system calls a unit's SystemCallFilter= lines allow: the first line without `~` is the
/// allow list, each `~` line removes from it (systemd.exec(5)).
fn unit_syscall_filter(analyze: &Path, unit: &str) -> BTreeSet<String> {
    let expand = |entries: &str| -> BTreeSet<String> {
        entries
            .split_whitespace()
            .flat_map(|entry| {
                if entry.starts_with('@') {
                    syscall_group(analyze, entry, &mut BTreeSet::new())
                } else {
                    BTreeSet::from([entry.to_string()])
                }
            })
            .collect()
    };
    let mut allowed = BTreeSet::new();
    for (key, value) in unit_settings(unit) {
        if key != "SystemCallFilter" {
            continue;
        }
        match value.strip_prefix('~') {
            Some(denied) => {
                for call in expand(denied) {
                    allowed.remove(&call);
                }
            }
            None => allowed.extend(expand(&value)),
        }
    }
    assert!(!allowed.is_empty(), "{SERVICE} has no SystemCallFilter=");
    allowed
}

/// One traced system call: the thread, the call's name and the rest of the line.
struct Traced {
    pid: u32,
    name: String,
    line: String,
}

/// Parses `strace -f` output (pid-prefixed lines, resumed calls merged by name).
fn parse_strace(log: &str) -> Vec<Traced> {
    log.lines()
        .filter_map(|line| {
            let (pid, rest) = line.split_once(' ')?;
            let pid = pid.parse().ok()?;
            let rest = rest.trim_start();
            let name = if let Some(resumed) = rest.strip_prefix("<... ") {
                resumed.split_whitespace().next()?
            } else {
                let name = rest.split('(').next()?;
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return None; // signals, exits
                }
                name
            };
            Some(Traced {
                pid,
                name: name.to_string(),
                line: line.to_string(),
            })
        })
        .collect()
}

/// What can be checked without systemd as PID 1: the service's hardening settings do not stop the
/// server. systemd applies them itself; here the static server is started the way the units start
/// it, as far as plain tools allow, and strace records every system call it makes while it serves
/// and stops:
/// - Socket activation: the listening socket is made outside and passed as fd 3 (LISTEN_FDS=1,
///   LISTEN_PID); the server binds and listens on nothing of its own.
/// - DynamicUser, CapabilityBoundingSet=, AmbientCapabilities=: uid 65534, no capabilities, a
///   bounding set cut to what chroot needs before it drops to that user.
/// - NoNewPrivileges: set by setpriv, checked in /proc.
/// - ProtectSystem=strict, ProtectHome, PrivateTmp, PrivateDevices, ProtectProc, ProcSubset,
///   ProtectKernel*, ProtectControlGroups, ProtectClock: the server's whole filesystem is an empty
///   directory, bind-mounted read-only: no /etc, /home, /tmp, /dev, /proc or /sys at all.
/// - PrivateIPC, ProtectHostname, PrivateMounts: its own IPC, UTS and mount namespaces.
/// - SystemCallFilter=: every traced call is in the set the unit's lines allow (expanded with
///   systemd's own group lists), including those of the graceful stop on SIGTERM (KillSignal=),
///   which must take well under its 5 s grace: no PrivateNetwork= because of it (see the unit).
/// - MemoryDenyWriteExecute: no mapping is made writable and executable, none made executable.
/// - RestrictAddressFamilies=AF_INET AF_INET6: every socket(2) is AF_INET or AF_INET6 (the
///   filter leaves socketpair(2) alone).
/// - RestrictNamespaces, LockPersonality, RestrictRealtime, RestrictSUIDSGID, SystemCallArchitectures:
///   no unshare/setns/CLONE_NEW*, no personality(2), no realtime scheduling, no chmod at all, a
///   native static binary.
///
/// Not covered: the seccomp filter, cgroup and namespaces as systemd itself applies them, and
/// PrivateUsers (chroot must drop to the user, which a user namespace here would not map).
#[test]
fn systemd_hardening_settings_leave_the_server_working() {
    let dir = TempDir::new("hardening");
    let root = empty_root(&dir);
    let (private, pem) = python_keypair(&dir, 2048, "spki");
    let analyze = tool("systemd-analyze");
    let port = free_port();
    let trace = dir.join("strace.log");

    // socket_activate.py (shared with the lifecycle tests) binds 127.0.0.1:port, passes it as
    // fd 3 and execs this script with only the given variables, hence the absolute paths:
    // unshare gives IPC, UTS and mount namespaces; in the mount namespace the root is
    // re-mounted read-only; setpriv sets no-new-privileges and cuts the bounding set; chroot
    // enters the empty root as uid 65534. Each execs the next, so the pid, which LISTEN_PID
    // names, stays the same up to the server.
    let path = |p: &Path| {
        let text = p.display().to_string();
        assert!(!text.contains(['\'', '"', ' ']), "a plain path: {text}");
        text
    };
    let script = format!(
        "#!/bin/sh\nexec {unshare} --ipc --uts --mount --propagation private -- {sh} -c \
         '{mount} --bind {root} {root} && {mount} -o remount,bind,ro {root} && exec {setpriv} \
         --no-new-privs --bounding-set=-all,+sys_chroot,+setuid,+setgid -- \
         {chroot} --userspec=65534:65534 {root} /token2go-server'\n",
        unshare = path(&tool("unshare")),
        sh = path(&tool("sh")),
        mount = path(&tool("mount")),
        root = path(&root),
        setpriv = path(&tool("setpriv")),
        chroot = path(&tool("chroot")),
    );
    let launcher = dir.join("launch.sh");
    std::fs::write(&launcher, script).expect("write launcher");
    std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // The interpreter itself, not a wrapper that might fork on the way.
    let mut command = Command::new(tool("strace"));
    command
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .arg("--")
        .arg(python_exe())
        .arg(Path::new(REPO).join("tests/support/socket_activate.py"))
        .arg("listening")
        .arg(port.to_string())
        .arg(&launcher)
        .arg("T2G_FALLBACK_TOKEN=hardened-token")
        .env_clear();
    // The socket listens before the server runs, so this start cannot fail with a server
    // running; its first answer says it is up.
    let mut traced =
        TestServer::spawn(command, SocketAddr::from(([127, 0, 0, 1], port))).with_timeout(PATIENCE);
    // The server is strace's child. Killing strace alone would leave it running, detached, so
    // it gets a guard of its own.
    let server_pid = traced_child(traced.pid());
    let server_guard = KillOnDrop(server_pid);
    assert_eq!(
        traced.get("/health", &[]).status,
        200,
        "{}",
        traced.output()
    );
    let comm = std::fs::read_to_string(format!("/proc/{server_pid}/comm")).expect("comm");
    assert_eq!(comm.trim(), "token2go-server");
    let status = std::fs::read_to_string(format!("/proc/{server_pid}/status")).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("{name} missing from /proc status:\n{status}"))
            .to_string()
    };
    assert!(field("Uid:").starts_with("65534"), "{status}");
    assert_eq!(field("NoNewPrivs:"), "1");
    for caps in ["CapPrm:", "CapEff:", "CapAmb:", "CapInh:"] {
        assert_eq!(field(caps), "0000000000000000", "{caps}");
    }

    // Everything the server does: pages, assets, JSON, metrics, the flow, errors, keep-alive.
    for target in [
        "/",
        "/health",
        "/token",
        "/echo",
        "/metrics",
        "/swagger.yaml",
        "/swagger-ui/",
        "/favicon.ico",
        "/nope",
    ] {
        let r = traced.get(target, &[("Accept-Encoding", "gzip")]);
        assert!(r.status < 500, "{target}: {}", r.status);
    }
    let flow = traced.get(&flow_url(2048, &pem), &[]);
    assert_eq!(flow.status, 303, "{}", flow.text());
    let plain = python_decrypt(
        &private,
        &["--url", flow.header("Location").expect("Location")],
        b"",
    );
    assert!(plain.contains("hardened-token"));
    let paste = traced.get(
        &flow_url(2048, &pem).replace(
            &enc("http://127.0.0.1:43210/callback"),
            &enc("urn:ietf:wg:oauth:2.0:oob"),
        ),
        &[],
    );
    assert_eq!(paste.status, 200);
    let addr = traced.addr;
    let both = traced.raw(
        format!(
            "GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n\
             GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    let both = String::from_utf8_lossy(&both);
    assert_eq!(both.matches("HTTP/1.1 200").count(), 2, "{both}");

    // Stop it as systemd does (KillSignal=SIGTERM): a graceful stop, exit code 0, which strace
    // passes on as its own.
    send_signal(server_pid, "TERM");
    let stopping = Instant::now();
    let exit = traced
        .wait_exit(Duration::from_secs(10))
        .expect("no exit after SIGTERM");
    // The pid is free now and may be reused: the guard must not fire.
    std::mem::forget(server_guard);
    assert!(
        exit.success(),
        "exit after SIGTERM: {exit}\n{}",
        traced.output()
    );
    let stop = stopping.elapsed();
    assert!(stop < Duration::from_secs(2), "idle stop took {stop:?}");
    let output = traced.output();
    assert!(!output.contains("could not wake"), "{output}");
    let log = std::fs::read_to_string(&trace).expect("strace log");
    let calls = parse_strace(&log);
    let exec = calls
        .iter()
        .position(|c| {
            c.name == "execve"
                && c.line.contains("execve(\"/token2go-server\", ")
                && c.line.ends_with("= 0")
        })
        .unwrap_or_else(|| panic!("no execve of /token2go-server in the trace:\n{log}"));
    // From its exec on: the server's own calls and its threads' (which start after it).
    let before: BTreeSet<u32> = calls[..exec]
        .iter()
        .map(|c| c.pid)
        .filter(|p| *p != server_pid)
        .collect();
    let server_calls: Vec<&Traced> = calls[exec + 1..]
        .iter()
        .filter(|c| !before.contains(&c.pid))
        .collect();
    assert!(
        server_calls.len() > 50,
        "{} calls traced",
        server_calls.len()
    );

    let allowed = unit_syscall_filter(&analyze, &repo_file(SERVICE));
    let used: BTreeSet<&str> = server_calls.iter().map(|c| c.name.as_str()).collect();
    for own in ["bind", "listen"] {
        assert!(!used.contains(own), "socket-activated, yet it called {own}");
    }
    assert!(used.contains("accept4"), "it served on fd 3");
    for name in &used {
        assert!(
            allowed.contains(*name),
            "{name} is outside the unit's SystemCallFilter=:\n{}",
            server_calls
                .iter()
                .filter(|c| c.name == *name)
                .map(|c| c.line.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    for call in &server_calls {
        let line = &call.line;
        match call.name.as_str() {
            "mmap" => assert!(
                !(line.contains("PROT_WRITE") && line.contains("PROT_EXEC")),
                "MemoryDenyWriteExecute: {line}"
            ),
            "mprotect" | "pkey_mprotect" => {
                assert!(
                    !line.contains("PROT_EXEC"),
                    "MemoryDenyWriteExecute: {line}"
                )
            }
            // The arguments are on the call's first line, not on a `<... socket resumed>` one.
            "socket" => assert!(
                line.contains("(AF_INET,")
                    || line.contains("(AF_INET6,")
                    || line.contains(" resumed>"),
                "RestrictAddressFamilies: {line}"
            ),
            "clone" | "clone3" | "unshare" | "setns" => {
                assert!(!line.contains("CLONE_NEW"), "RestrictNamespaces: {line}");
                assert!(call.name.starts_with("clone"), "RestrictNamespaces: {line}");
            }
            "personality" => panic!("LockPersonality: {line}"),
            "sched_setscheduler" | "sched_setattr" => panic!("RestrictRealtime: {line}"),
            "chmod" | "fchmod" | "fchmodat" | "fchmodat2" => panic!("RestrictSUIDSGID: {line}"),
            _ => {}
        }
        assert!(!line.contains("EROFS"), "ProtectSystem=strict: {line}");
    }
}

/// Sends SIGKILL to a process this test started indirectly, on drop.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The one child process of `parent` that runs another program (read from /proc): strace also
/// forks short-lived copies of itself at start to probe ptrace features.
fn traced_child(parent: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let children: Vec<u32> = std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|pid: &u32| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|stat| {
                        // The command name may hold spaces and parentheses: fields follow the last ')'.
                        let after = stat.rsplit_once(')')?.1;
                        after.split_whitespace().nth(1)?.parse::<u32>().ok()
                    })
                    == Some(parent)
            })
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.trim() != "strace")
            })
            .collect();
        if let [child] = children[..] {
            return child;
        }
        assert!(
            Instant::now() < deadline,
            "{parent} has children {children:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes.

/// Checks the manifest's shape with PyYAML (which kubernetes-validate brings) and prints the
/// token2go container's environment and memory request.
const MANIFEST_CHECK: &str = r#"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {d["kind"]: d for d in docs}
for kind in ("Secret", "Deployment", "Service"):
    assert kind in kinds, f"no {kind}"
secret, deploy, service = kinds["Secret"], kinds["Deployment"], kinds["Service"]
for key, value in secret["stringData"].items():
    assert "REPLACE-ME" in value, f"Secret {key} is not a marked placeholder"
spec = deploy["spec"]
assert spec["replicas"] == 2, "2 replicas"
pod = spec["template"]["spec"]
assert pod["securityContext"]["runAsNonRoot"] is True
assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
containers = {c["name"]: c for c in pod["containers"]}
for name, c in containers.items():
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False, name
    assert sc["readOnlyRootFilesystem"] is True, name
    assert sc["capabilities"]["drop"] == ["ALL"], name
    assert "memory" in c["resources"]["requests"], name
    assert "readinessProbe" in c and "livenessProbe" in c, name
t2g, proxy = containers["token2go"], containers["oauth2-proxy"]
env = {e["name"]: e["value"] for e in t2g["env"]}
assert env["T2G_SERVER_HOST"] == "127.0.0.1", "token2go on the pod's loopback"
assert env["T2G_TOKEN_HEADER_NAMES"] == "X-Forwarded-Access-Token"
assert "ports" not in t2g, "token2go exposes no port"
for probe in ("readinessProbe", "livenessProbe"):
    assert t2g[probe]["exec"]["command"] == ["/token2go-server", "healthcheck"], probe
args = proxy["args"]
assert "--pass-access-token=true" in args
assert not any(a.startswith("--pass-authorization-header") for a in args)
assert f"--upstream=http://127.0.0.1:{env['T2G_SERVER_PORT']}/" in args
refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in proxy["env"] if "valueFrom" in e}
for var in ("OAUTH2_PROXY_CLIENT_ID", "OAUTH2_PROXY_CLIENT_SECRET", "OAUTH2_PROXY_COOKIE_SECRET"):
    assert refs[var]["name"] == secret["metadata"]["name"], var
    assert refs[var]["key"] in secret["stringData"], var
target = service["spec"]["ports"][0]["targetPort"]
assert target in [p.get("name") for p in proxy["ports"]] + [p["containerPort"] for p in proxy["ports"]]
assert service["spec"]["selector"].items() <= deploy["spec"]["template"]["metadata"]["labels"].items()
for name, value in env.items():
    print(f"env {name}={value}")
print("memory " + t2g["resources"]["requests"]["memory"])
"#;

/// Bytes of a Kubernetes quantity such as `8Mi`.
fn quantity_bytes(q: &str) -> u64 {
    let units = [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)];
    units
        .iter()
        .find_map(|(suffix, factor)| Some(q.strip_suffix(suffix)?.parse::<u64>().ok()? * factor))
        .or_else(|| q.parse().ok())
        .unwrap_or_else(|| panic!("unsupported quantity {q}"))
}

#[test]
fn kubernetes_manifest_validates_and_its_memory_request_covers_the_measured_rss() {
    let manifest = Path::new(REPO).join("assets/kubernetes/token2go.yaml");
    run_ok(
        Command::new(tool("kubernetes-validate"))
            .args(["--strict", "--quiet"])
            .arg(&manifest),
    );
    let report = python_ok("-c", &[MANIFEST_CHECK, manifest.to_str().unwrap()], b"");
    let report = String::from_utf8(report).expect("UTF-8");

    let mut vars = Vec::new();
    let mut request = None;
    for line in report.lines() {
        if let Some(pair) = line.strip_prefix("env ") {
            let (name, value) = pair.split_once('=').expect("NAME=value");
            // The pod's port is 8080; here any free port will do.
            if name != "T2G_SERVER_PORT" && name != "T2G_SERVER_HOST" {
                vars.push((name.to_string(), value.to_string()));
            }
        } else if let Some(q) = line.strip_prefix("memory ") {
            request = Some(quantity_bytes(q));
        }
    }
    let request = request.expect("a memory request");

    // The static server with the pod's environment, under light load: 8 clients, each doing
    // flow requests with a 4096-bit key. Its peak resident memory must fit the request.
    let dir = TempDir::new("k8s");
    let (_, pem) = python_keypair(&dir, 4096, "spki");
    let mut refs: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    refs.push(("T2G_FALLBACK_TOKEN", "rss-token"));
    let server =
        TestServer::start_program(&dist().server, "127.0.0.1", &refs).with_timeout(PATIENCE);
    let url = flow_url(4096, &pem);
    std::thread::scope(|clients| {
        for _ in 0..8 {
            clients.spawn(|| {
                for _ in 0..10 {
                    assert_eq!(server.get(&url, &[]).status, 303);
                }
            });
        }
    });
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("status");
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM");
    assert!(
        peak_kib * 1024 <= request,
        "peak RSS {peak_kib} KiB over the request of {request} bytes"
    );
    let out = server.output();
    assert!(!out.contains("unknown variable"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// nginx auth_request recipe.

const NGINX_RECIPE: &str = "assets/nginx/token2go.conf";

/// A stand-in for oauth2-proxy: `/oauth2/auth` answers 202 with the access token for a signed-in
/// session cookie and 401 without one; `/oauth2/sign_in` answers 302 to an identity provider and
/// echoes the redirect target nginx passed. It serves loopback only and stops on drop.
struct AuthStub {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AuthStub {
    fn start(small_token: String, big_token: String) -> AuthStub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the auth stand-in");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => answer_auth(stream, &small_token, &big_token),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(e) => panic!("auth stand-in: {e}"),
                }
            }
        });
        AuthStub {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for AuthStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer_auth(mut stream: TcpStream, small_token: &str, big_token: &str) {
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("");
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let session = header("Cookie").and_then(|c| {
        c.split("; ")
            .find_map(|kv| kv.strip_prefix("_oauth2_proxy=").map(String::from))
    });
    let response = if path.starts_with("/oauth2/sign_in") {
        let back = header("X-Auth-Request-Redirect").unwrap_or_default();
        format!(
            "HTTP/1.1 302 Found\r\nLocation: https://idp.example.com/authorize\r\nX-Stub-Redirect-Back: {back}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    } else if path == "/oauth2/auth" {
        match session.as_deref() {
            Some("small") => format!(
                "HTTP/1.1 202 Accepted\r\nX-Auth-Request-Access-Token: {small_token}\r\nX-Auth-Request-User: alice\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            Some("big") => format!(
                "HTTP/1.1 202 Accepted\r\nX-Auth-Request-Access-Token: {big_token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            Some("no-token") => {
                "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            }
            _ => "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_string(),
        }
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
    };
    let _ = stream.write_all(response.as_bytes());
}

/// Replaces each needle, which must occur exactly once.
fn replace_once(text: &str, replacements: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (needle, with) in replacements {
        assert_eq!(
            out.matches(needle).count(),
            1,
            "{NGINX_RECIPE}: `{needle}` once"
        );
        out = out.replace(needle, with);
    }
    out
}

/// GET through `nginx` over TLS with curl, as a browser would reach the server name.
fn get_tls(nginx: &Nginx, target: &str, headers: &[(&str, &str)]) -> Reply {
    let raw_path = nginx.path("response");
    let port = nginx.addr().port();
    let mut command = Command::new(tool("curl"));
    command
        .args(["--silent", "--show-error", "--insecure", "--max-time", "20"])
        .arg("--resolve")
        .arg(format!("token2go.example.com:{port}:127.0.0.1"))
        // The response as it came, for the harness's parser.
        .args(["--include", "--raw"])
        .arg("--output")
        .arg(&raw_path);
    for (name, value) in headers {
        command.arg("--header").arg(format!("{name}: {value}"));
    }
    command.arg(format!("https://token2go.example.com:{port}{target}"));
    run_ok(&mut command);
    let raw = std::fs::read(&raw_path).expect("curl output");
    Reply::parse(&raw).unwrap_or_else(|e| {
        panic!(
            "unparseable answer through nginx ({e}): {}\n{}",
            String::from_utf8_lossy(&raw),
            nginx.error_log()
        )
    })
}

#[test]
fn nginx_recipe_passes_the_token_and_an_80_kb_flow_redirect() {
    let dir = TempDir::new("nginx");
    // A JWT of about 58 KB: its flow redirect Location is about 80 KB.
    let big_token = format!(
        "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE5MDAwMDAwMDB9.{}",
        "S".repeat(58_000)
    );
    let small_token = "nginx-small-token".to_string();
    let stub = AuthStub::start(small_token.clone(), big_token.clone());
    let server = TestServer::start(&[
        ("T2G_TOKEN_HEADER_NAMES", "X-Forwarded-Access-Token"),
        (
            "T2G_USER_HEADER_NAMES",
            "X-Forwarded-Preferred-Username,X-Forwarded-User,X-Forwarded-Email",
        ),
    ]);
    let t2g = server.addr;
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    run_ok(
        Command::new(tool("openssl"))
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args([
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=token2go.example.com",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );

    // The shipped recipe with this test's addresses; `buffers: false` drops its proxy_buffer*
    // lines, to show they are what lets a large answer through.
    let recipe = repo_file(NGINX_RECIPE);
    let template = |port: u16, buffers: bool| {
        let conf = replace_once(
            &recipe,
            &[
                ("server 127.0.0.1:8080;", format!("server {t2g};")),
                ("server 127.0.0.1:4180;", format!("server {};", stub.addr)),
                ("listen 443 ssl;", format!("listen 127.0.0.1:{port} ssl;")),
                (
                    "/etc/ssl/certs/token2go.example.com.pem",
                    cert.display().to_string(),
                ),
                (
                    "/etc/ssl/private/token2go.example.com.key",
                    key.display().to_string(),
                ),
            ],
        );
        conf.lines()
            .filter(|l| buffers || !l.trim_start().starts_with("proxy_buffer"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let port = free_port();
    let templated = template(port, true);
    let nginx = Nginx::start(port, &templated);
    let signed_in = |session: &str| format!("_oauth2_proxy={session}");

    // /token: the token from the auth answer reaches token2go.
    let r = get_tls(&nginx, "/token", &[("Cookie", &signed_in("small"))]);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), nginx.error_log());
    assert!(
        r.text().contains(&format!("\"secret\":\"{small_token}\"")),
        "{}",
        r.text()
    );

    // The user comes from the auth answer; a client's own identity headers do not get through.
    let r = get_tls(
        &nginx,
        "/echo",
        &[
            ("Cookie", &signed_in("small")),
            ("X-Forwarded-User", "mallory"),
            ("X-Auth-Request-User", "mallory"),
            ("X-Forwarded-Preferred-Username", "mallory"),
            ("X-Forwarded-For", "203.0.113.9"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("alice"), "{}", r.text());
    assert!(!r.text().contains("mallory"), "{}", r.text());
    // The browser's address as nginx saw it, not the client's own X-Forwarded-For, reaches the
    // audit trail.
    assert!(
        r.text().contains("\"X-Forwarded-For\":[\"127.0.0.1\"]"),
        "{}",
        r.text()
    );
    assert!(!r.text().contains("203.0.113.9"), "{}", r.text());
    let audit = server.output();
    assert!(audit.contains("forwarded_for=127.0.0.1"), "{audit}");

    // Without a token in the auth answer, a client's own headers do not get through.
    let r = get_tls(
        &nginx,
        "/token",
        &[
            ("Cookie", &signed_in("no-token")),
            ("X-Forwarded-Access-Token", "forged-by-client"),
            ("Authorization", "Bearer forged-by-client"),
        ],
    );
    assert_eq!(r.status, 444, "{}", r.text());

    // Not signed in: oauth2-proxy's sign-in, told to come back to the whole flow URL.
    let (private, pem) = python_keypair(&dir, 4096, "spki");
    let flow = flow_url(4096, &pem);
    let r = get_tls(&nginx, &flow, &[]);
    assert_eq!(r.status, 302, "{}\n{}", r.text(), nginx.error_log());
    assert_eq!(r.header("X-Stub-Redirect-Back"), Some(flow.as_str()));

    // The flow with a 58 KB token and a 4096-bit key: a Location of about 80 KB passes nginx.
    let r = get_tls(&nginx, &flow, &[("Cookie", &signed_in("big"))]);
    assert_eq!(
        r.status,
        303,
        "{}\n{}\n{}",
        r.text(),
        nginx.error_log(),
        server.output()
    );
    let location = r.header("Location").expect("Location");
    assert!(
        location.len() > 75_000,
        "Location is {} bytes",
        location.len()
    );
    let plain = python_decrypt(&private, &["--url", location], b"");
    assert!(
        plain.contains(&big_token),
        "decrypted payload lacks the token"
    );
    assert!(!nginx.error_log().contains("too big header"));
    drop(nginx);

    // The buffer sizes are what make it work: without them nginx refuses the same request.
    let port = free_port();
    let bare = Nginx::start(port, &template(port, false));
    let r = get_tls(&bare, &flow, &[("Cookie", &signed_in("big"))]);
    assert!(r.status >= 500, "{}", r.status);
    assert!(
        bare.error_log().contains("upstream sent too big header"),
        "{}",
        bare.error_log()
    );
}

// ---------------------------------------------------------------------------------------------
// README.

#[test]
fn readme_gateway_recipes_name_each_gateways_header() {
    let readme = repo_file("README.md");
    let gateway = [
        "--pass-access-token",
        "X-Forwarded-Access-Token",
        "--pass-authorization-header",
        "X-Auth-Request-Access-Token",
        NGINX_RECIPE,
        "Pomerium",
        "authResponseHeaders",
        "X-Amzn-Oidc-Accesstoken",
        "X-MS-TOKEN-AAD-ACCESS-TOKEN",
        "X-Goog-IAP-JWT-Assertion",
        "T2G_TOKEN_HEADER_NAMES=",
        "/echo",
        "T2G_ECHO_ENABLED=false",
        // The Apache recipe and what the real-parts tests run (issue 15).
        "assets/apache/token2go.conf",
        "OIDC_access_token_expires",
        "OIDC_CLAIM_preferred_username",
        "RequestHeader unset",
        "tests/tools/realparts_apache.rs",
        "tests/tools/realparts_nginx.rs",
        "oauth2_proxy_standin.py",
        "registry reachable from the test machines",
        "X-Forwarded-For $remote_addr",
        "proxy_buffer_size 32k",
        "oidc-provider",
        "JWKS",
    ];
    let deploy = [
        "docker run",
        "healthcheck",
        "systemctl enable --now token2go-server.socket",
        "/etc/token2go/token2go.env",
        "kubectl apply",
        "sha256sum -c SHA256SUMS",
        "stateless",
        "tests/tools/realparts_kube.rs",
    ];
    for (title, needles) in [
        ("Behind your gateway", &gateway[..]),
        ("Deploy", &deploy[..]),
    ] {
        let section = readme
            .split_once(&format!("## {title}"))
            .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
            .unwrap_or_else(|| panic!("README has a {title} section"));
        for needle in needles {
            assert!(section.contains(needle), "{title} lacks {needle}");
        }
    }
    // Each gateway recipe says which test runs it.
    for (recipe, tests) in [
        (
            "assets/apache/token2go.conf",
            &["tests/tools/realparts_apache.rs"][..],
        ),
        (
            NGINX_RECIPE,
            &["tests/tools/realparts_nginx.rs", "tests/tools/deploy.rs"][..],
        ),
    ] {
        let text = repo_file(recipe);
        for test in tests {
            assert!(text.contains(test), "{recipe} does not name {test}");
        }
    }
}
