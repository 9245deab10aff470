//! The container image with a real container runtime (issue 15). podman builds the image from
//! `Dockerfile` and runs it. No registry is reachable here, so the Rust builder image cannot be
//! pulled: the image takes the static binary of scripts/build-dist.sh (the Dockerfile's
//! `SERVER_FROM=dist` route), and the default multi-stage build is proven separately by replaying
//! its builder steps with the machine's cargo on a copy of exactly the files its `COPY` lines
//! bring in, in order.
//!
//! podman runs as this machine allows: `--storage-driver vfs`, `--isolation chroot` for builds,
//! `--runtime runc`, `--cgroup-manager cgroupfs`, with its storage and state in a temp dir of the
//! test, removed afterwards (vfs layers are root-owned files; the guard removes them as the
//! owner that made them).

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::deploy::dist;
use crate::harness::{Client, TempDir, free_port, tool};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const IMAGE: &str = "localhost/token2go-server:test";
/// Issue 15: `podman stop` ends the container within 2 s.
const STOP_LIMIT: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// podman with everything it keeps in a temp dir.

/// Where a podman run as root keeps its blob-info cache whatever `--root` says (containers/image
/// has no setting for it); a build writes it.
const BLOB_INFO_CACHE: &str = "/var/lib/containers/cache";

struct Podman {
    dir: TempDir,
    /// Whether [`BLOB_INFO_CACHE`] was there before: if not, this podman made it and removes it.
    had_cache: bool,
}

impl Podman {
    fn new() -> Podman {
        let dir = TempDir::new("podman");
        for sub in ["root", "runroot", "libpod", "tmp"] {
            std::fs::create_dir(dir.join(sub)).expect("podman dir");
        }
        // `--runtime runc` names it; a missing runc should say so, not fail in podman's words.
        tool("runc");
        let had_cache = Path::new(BLOB_INFO_CACHE).exists();
        Podman { dir, had_cache }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(tool("podman"));
        command
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .arg("--tmpdir")
            .arg(self.dir.join("libpod"))
            .args(["--storage-driver", "vfs", "--runtime", "runc"])
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none"])
            // Image copies and build scratch space.
            .env("TMPDIR", self.dir.join("tmp"))
            .args(args)
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
    }

    /// Runs a podman command that must succeed; its stdout, trimmed.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {} failed with {}:\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn podman")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "--all", "--force", "--time", "0"]);
        let _ = self.run(&["rmi", "--all", "--force"]);
        // What podman left mounted under its dirs (a container's /dev/shm), innermost first.
        let root = self.dir.join("");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = mountinfo
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| Path::new(m).starts_with(&root))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for mount in mounts {
            let _ = Command::new(tool("umount"))
                .args(["--lazy", mount])
                .status();
        }
        // vfs layers belong to the user podman ran as; a rootless podman's to its user
        // namespace, where only `podman unshare` may remove them. TempDir removes the rest.
        let ours = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
        if ours != 0 {
            let root = self.dir.join("root").display().to_string();
            let _ = self.command(&["unshare", "rm", "-rf", &root]).status();
        } else if !self.had_cache {
            let _ = std::fs::remove_dir_all(BLOB_INFO_CACHE);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The image from the dist route, run as the README runs it.

/// A build context holding the Dockerfile, .dockerignore and the dist binary, as a checkout
/// after scripts/build-dist.sh would (plus what the ignore file must keep out).
fn dist_context(dir: &TempDir) -> (PathBuf, String) {
    let context = dir.join("context");
    std::fs::create_dir_all(context.join("dist")).expect("context");
    for file in ["Dockerfile", ".dockerignore"] {
        std::fs::copy(Path::new(REPO).join(file), context.join(file)).expect("copy");
    }
    let server = &dist().server;
    let name = server.file_name().and_then(|n| n.to_str()).expect("name");
    std::fs::copy(server, context.join("dist").join(name)).expect("copy binary");
    std::fs::write(context.join("dist/SHA256SUMS"), "not for the image\n").expect("sums");
    (context, format!("dist/{name}"))
}

/// The server's host pid and `/proc` status lines.
fn proc_status(podman: &Podman, name: &str) -> String {
    let pid = podman.ok(&["inspect", "--format", "{{.State.Pid}}", name]);
    std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status")
}

fn status_field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{field} missing:\n{status}"))
}

/// Polls `/health` until it answers 200 (10 s at most).
fn wait_healthy(podman: &Podman, name: &str, addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut client) = Client::try_connect(addr, Duration::from_secs(2))
            && client
                .try_request("GET", "/health", &[("Connection", "close")], b"")
                .is_ok_and(|r| r.status == 200)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the container does not answer on {addr}:\n{}",
            podman_logs(podman, name)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn podman_logs(podman: &Podman, name: &str) -> String {
    let out = podman.run(&["logs", name]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Builds [`IMAGE`] from the Dockerfile by the dist route, and checks its configuration.
fn build_dist_image(podman: &Podman, dir: &TempDir) {
    let (context, binary) = dist_context(dir);
    // `--format docker`: the OCI image format has no HEALTHCHECK, podman would drop it.
    let server_binary = format!("SERVER_BINARY={binary}");
    let context_arg = context.display().to_string();
    podman.ok(&[
        "build",
        "--format",
        "docker",
        "--isolation",
        "chroot",
        "--build-arg",
        "SERVER_FROM=dist",
        "--build-arg",
        &server_binary,
        "--tag",
        IMAGE,
        &context_arg,
    ]);
    let config = podman.ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{.Config.Entrypoint}} {{.Config.Healthcheck.Test}}",
        IMAGE,
    ]);
    assert_eq!(
        config,
        "65532:65532 [/token2go-server] [CMD /token2go-server healthcheck]"
    );
}

/// Starts [`IMAGE`] detached with the README's flags, plus a fallback token and `port`. The
/// host's network, on a loopback port, so the test reaches it without a network setup of
/// podman's; no tmpfs mounts either (`--read-only` adds them unless told not to).
fn run_as_the_readme_does(podman: &Podman, name: &str, port: u16) {
    let port_var = format!("T2G_SERVER_PORT={port}");
    podman.ok(&[
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "host",
        "--read-only",
        "--read-only-tmpfs=false",
        // podman's limits for root (2^20 open files and processes) are more than runc may
        // set on this machine; the server's own default of 1024 connections fits these.
        "--ulimit",
        "nofile=4096:4096",
        "--ulimit",
        "nproc=4096:4096",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--env",
        "T2G_SERVER_HOST=127.0.0.1",
        "--env",
        &port_var,
        "--env",
        "T2G_TOKEN_HEADER_NAMES=X-Forwarded-Access-Token",
        "--env",
        "T2G_ECHO_ENABLED=false",
        "--env",
        "T2G_FALLBACK_TOKEN=container-token",
        IMAGE,
    ]);
}

#[test]
fn podman_image_from_the_dist_binary_serves_read_only_as_65532_and_stops_cleanly() {
    let dir = TempDir::new("container");
    let podman = Podman::new();
    build_dist_image(&podman, &dir);
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let name = "t2g-test";
    run_as_the_readme_does(&podman, name, port);
    wait_healthy(&podman, name, addr);

    let mut client = Client::connect(addr);
    let token = client.get("/token");
    assert_eq!(token.status, 200, "{}", token.text());
    assert!(
        token.text().contains("\"secret\":\"container-token\""),
        "{}",
        token.text()
    );
    assert_eq!(client.get("/echo").status, 404, "echo is off");
    drop(client);

    let status = proc_status(&podman, name);
    assert!(
        status_field(&status, "Name:") == "token2go-server",
        "{status}"
    );
    assert_eq!(status_field(&status, "Uid:"), "65532\t65532\t65532\t65532");
    assert_eq!(status_field(&status, "Gid:"), "65532\t65532\t65532\t65532");
    assert_eq!(status_field(&status, "NoNewPrivs:"), "1");
    for caps in ["CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
        assert_eq!(status_field(&status, caps), "0000000000000000", "{caps}");
    }
    let mounts = podman.ok(&["inspect", "--format", "{{len .Mounts}}", name]);
    assert_eq!(mounts, "0", "no extra mounts");

    let health = podman.run(&["healthcheck", "run", name]);
    assert!(
        health.status.success(),
        "healthcheck: {}{}",
        String::from_utf8_lossy(&health.stdout),
        String::from_utf8_lossy(&health.stderr)
    );

    stop_with_a_request_in_flight(&podman, name, addr);
}

/// Sends the first line of a request, stops the container, finishes the request once the
/// server no longer accepts (it has its SIGTERM), and expects the answer, exit code 0, and the
/// stop within [`STOP_LIMIT`].
fn stop_with_a_request_in_flight(podman: &Podman, name: &str, addr: SocketAddr) {
    let mut client = Client::connect(addr);
    client.send(b"GET /health HTTP/1.1\r\n");
    std::thread::sleep(Duration::from_millis(150));
    let begun = Instant::now();
    let stop = podman.spawn(&["stop", "--time", "10", name]);
    let deadline = Instant::now() + STOP_LIMIT;
    loop {
        match TcpStream::connect(addr) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
            _ => {
                assert!(Instant::now() < deadline, "still accepting after stop");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    client.send(format!("Host: {addr}\r\n\r\n").as_bytes());
    let reply = client.reply();
    assert_eq!(reply.status, 200, "the request in flight is answered");
    assert!(reply.closes(), "the last answer closes the connection");
    let out = stop.wait_with_output().expect("podman stop");
    let took = begun.elapsed();
    assert!(
        out.status.success(),
        "podman stop: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < STOP_LIMIT, "podman stop took {took:?}");
    let exit = podman.ok(&["inspect", "--format", "{{.State.ExitCode}}", name]);
    assert_eq!(exit, "0", "{}", podman_logs(podman, name));
    let logs = podman_logs(podman, name);
    assert!(logs.contains("SIGTERM"), "{logs}");
    assert!(!logs.contains("container-token"), "{logs}");
}

// ---------------------------------------------------------------------------------------------
// The default build, replayed: the builder stage's steps with the machine's cargo.

/// The Dockerfile's instructions (keyword, rest): continuation lines joined as Docker joins
/// them, comment lines dropped.
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (current.is_empty() && trimmed.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                let text = std::mem::take(&mut current);
                let text = text.trim();
                let (keyword, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
                out.push((keyword.to_ascii_uppercase(), rest.trim().to_string()));
            }
        }
    }
    out
}

/// Whether `name` (one path segment) matches `pattern`, whose `*` stands for any run of
/// characters.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head) && (head.len()..=name.len()).any(|at| glob(tail, &name[at..]))
        }
    }
}

/// Whether .dockerignore keeps `path` (relative to the context, `/`-separated) out of the
/// context: the last matching line decides, `!` lines let paths back in, a line that matches a
/// folder matches everything in it (Docker's rules, without `?` and `**`, which ours lacks).
fn ignored(dockerignore: &str, path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    let mut verdict = false;
    for line in dockerignore.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keep, pattern) = match line.strip_prefix('!') {
            Some(pattern) => (true, pattern),
            None => (false, line),
        };
        assert!(
            !pattern.contains(['?', '[']) && !pattern.contains("**"),
            "{line}"
        );
        let parts: Vec<&str> = pattern.trim_matches('/').split('/').collect();
        if parts.len() <= segments.len() && parts.iter().zip(&segments).all(|(p, s)| glob(p, s)) {
            verdict = !keep;
        }
    }
    verdict
}

/// Copies `source` (a file or a folder, relative to the repository) as COPY does, leaving out
/// what .dockerignore keeps out of the context; returns the files copied.
fn copy_from_context(dockerignore: &str, source: &str, dest: &Path) -> Vec<String> {
    let from = Path::new(REPO).join(source);
    assert!(
        !ignored(dockerignore, source) && from.exists(),
        "COPY {source}: not in the build context"
    );
    if from.is_file() {
        std::fs::create_dir_all(dest).expect("dest");
        std::fs::copy(&from, dest.join(from.file_name().expect("name"))).expect("copy");
        return vec![source.to_string()];
    }
    let mut copied = Vec::new();
    for entry in std::fs::read_dir(&from).expect("read dir") {
        let name = entry.expect("entry").file_name();
        let name = name.to_str().expect("a UTF-8 name");
        let relative = format!("{source}/{name}");
        if ignored(dockerignore, &relative) {
            continue;
        }
        if Path::new(REPO).join(&relative).is_dir() {
            copied.extend(copy_from_context(dockerignore, &relative, &dest.join(name)));
        } else {
            std::fs::create_dir_all(dest).expect("dest");
            std::fs::copy(Path::new(REPO).join(&relative), dest.join(name)).expect("copy");
            copied.push(relative);
        }
    }
    copied
}

/// The target folder the replay's `target/` links to: the one scripts/build-dist.sh built in,
/// so the dependencies compiled there (same target, profile and RUSTFLAGS) are reused.
fn shared_target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => Path::new(REPO).join(dir),
        None => Path::new(REPO).join("target"),
    }
}

/// The environment a RUN step gets: the machine's toolchain, the stage's ENV and the build
/// argument BuildKit would set, nothing of this test's cargo.
fn step_command(work: &Path, scratch: &Path, env: &[(String, String)], script: &str) -> Command {
    let mut command = Command::new(tool("sh"));
    command
        .args(["-c", script])
        .current_dir(work)
        .env_clear()
        .env("TMPDIR", scratch)
        .stdin(Stdio::null());
    for (name, value) in std::env::vars() {
        if matches!(name.as_str(), "PATH" | "HOME" | "CARGO_HOME") || name.starts_with("RUSTUP_") {
            command.env(name, value);
        }
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    command.env("TARGETARCH", arch);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Replays the `build` stage of `dockerfile` in `dir`: WORKDIR is a folder of the temp dir, COPY
/// copies from the repository (filtered by .dockerignore) and RUN runs with `sh -c` there, each
/// only with what the steps before it brought in. Returns the path of what the final stage
/// copies out of the build (mapped into the replay) and the steps' output.
fn replay_builder(dockerfile: &str, dir: &TempDir) -> (PathBuf, String) {
    let dockerignore =
        std::fs::read_to_string(Path::new(REPO).join(".dockerignore")).expect("read .dockerignore");
    let all = instructions(dockerfile);
    let start = all
        .iter()
        .position(|(k, rest)| k == "FROM" && rest.ends_with(" AS build"))
        .expect("a FROM ... AS build stage");
    let end = start
        + 1
        + all[start + 1..]
            .iter()
            .position(|(k, _)| k == "FROM")
            .expect("a stage after the builder");
    let scratch = dir.join("tmp");
    std::fs::create_dir(&scratch).expect("scratch");
    let mut workdir: Option<(String, PathBuf)> = None;
    let mut env: Vec<(String, String)> = Vec::new();
    let mut log = String::new();
    for (keyword, rest) in &all[start + 1..end] {
        match keyword.as_str() {
            "ARG" => assert_eq!(rest, "TARGETARCH", "a build argument the replay knows"),
            "WORKDIR" => {
                let work = dir.join("work");
                std::fs::create_dir(&work).expect("workdir");
                // The replay's target/ is the shared one; a Docker layer has none yet, and
                // nothing in it is a source file.
                std::os::unix::fs::symlink(shared_target_dir(), work.join("target"))
                    .expect("target link");
                workdir = Some((rest.clone(), work));
            }
            "ENV" => {
                let (name, value) = rest.split_once('=').expect("ENV NAME=value");
                let value = value.trim_matches('\'');
                assert!(!value.contains(['\'', '$']), "a plain ENV value: {rest}");
                env.push((name.to_string(), value.to_string()));
            }
            "COPY" => {
                let (_, work) = workdir.as_ref().expect("WORKDIR before COPY");
                let words: Vec<&str> = rest.split_whitespace().collect();
                assert!(!rest.starts_with("--") && words.len() >= 2, "COPY {rest}");
                let (dest, sources) = words.split_last().expect("COPY has a destination");
                for source in sources {
                    let copied = copy_from_context(&dockerignore, source, &work.join(dest));
                    log.push_str(&format!("COPY {source}: {} files\n", copied.len()));
                }
            }
            "RUN" => {
                let (_, work) = workdir.as_ref().expect("WORKDIR before RUN");
                let outside = rest
                    .char_indices()
                    .any(|(at, c)| c == '/' && (at == 0 || rest[..at].ends_with([' ', '>'])));
                assert!(!outside, "RUN uses a path outside WORKDIR: {rest}");
                let out = step_command(work, &scratch, &env, rest)
                    .output()
                    .expect("run sh");
                let output = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(out.status.success(), "RUN {rest}\nfailed:\n{output}");
                log.push_str(&format!("RUN ok: {}\n", rest.lines().next().unwrap_or("")));
            }
            other => panic!("the replay does not know {other} {rest}"),
        }
    }
    let (dir_in_image, work) = workdir.expect("a WORKDIR");
    let path = final_stage_source(&all);
    let inside = path
        .strip_prefix(&format!("{dir_in_image}/"))
        .unwrap_or_else(|| panic!("the final stage copies {path}, outside {dir_in_image}"));
    (work.join(inside), log)
}

/// What the final stage copies from the builder by default: the `COPY --from=STAGE PATH` of the
/// last stage, STAGE followed through `FROM ${ARG} AS STAGE` aliases (global ARG defaults) to
/// the `build` stage. Returns PATH.
fn final_stage_source(all: &[(String, String)]) -> String {
    let last_from = all.iter().rposition(|(k, _)| k == "FROM").expect("FROM");
    let (mut stage, path) = all[last_from..]
        .iter()
        .find_map(|(k, rest)| {
            let rest = rest.strip_prefix("--from=").filter(|_| k == "COPY")?;
            let mut words = rest.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .expect("the final stage copies the server from another stage");
    let first_from = all.iter().position(|(k, _)| k == "FROM").expect("FROM");
    let default = |arg: &str| {
        all[..first_from].iter().find_map(|(k, rest)| {
            let (name, value) = rest.split_once('=').filter(|_| k == "ARG")?;
            (name == arg).then(|| value.to_string())
        })
    };
    while stage != "build" {
        let base = all
            .iter()
            .find_map(|(k, rest)| {
                let base = rest
                    .strip_suffix(&format!(" AS {stage}"))
                    .filter(|_| k == "FROM")?;
                Some(base.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no stage {stage} leads to the builder"));
        stage = match base.strip_prefix("${").and_then(|b| b.strip_suffix('}')) {
            Some(arg) => default(arg).unwrap_or_else(|| panic!("ARG {arg} has no default")),
            None => base,
        };
    }
    path
}

#[test]
fn the_default_build_replays_on_exactly_the_files_its_copy_lines_bring_in() {
    let dockerfile = std::fs::read_to_string(Path::new(REPO).join("Dockerfile")).expect("read");
    // The full multi-stage build is what a plain `docker build .` gives.
    let all = instructions(&dockerfile);
    let first_from = all.iter().position(|(k, _)| k == "FROM").expect("FROM");
    assert!(
        all[..first_from].contains(&("ARG".to_string(), "SERVER_FROM=build".to_string())),
        "the default SERVER_FROM is the builder stage"
    );
    // build-dist.sh first: its build uses the shared target folder, and must not overlap the
    // replay's (whose stub build leaves a stub binary there for a moment).
    let _ = dist();
    let dir = TempDir::new("replay");
    let (built, log) = replay_builder(&dockerfile, &dir);
    let version = Command::new(&built)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}\n{log}", built.display()));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("token2go-server {}", env!("CARGO_PKG_VERSION")),
        "{log}"
    );
    let description = Command::new(tool("file"))
        .arg("-b")
        .arg(&built)
        .output()
        .expect("run file");
    let description = String::from_utf8_lossy(&description.stdout);
    assert!(
        description.contains("statically linked") || description.contains("static-pie linked"),
        "{description}"
    );
}
