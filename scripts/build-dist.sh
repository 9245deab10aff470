#!/usr/bin/env bash
# Builds the release binaries, fully static and stripped, into dist/ (or the folder given):
#   token2go-server-<version>-linux-<arch>, token2go-<version>-linux-<arch>, SHA256SUMS
# The musl target is used when its standard library is installed; otherwise static glibc, which is
# safe here because neither binary resolves names or loads NSS modules (std networking only).
# Usage: scripts/build-dist.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir=${1:-dist}

version=$(cargo pkgid --package token2go-server | sed 's/.*[#@]//')
arch=$(uname -m)
case "$arch" in
  x86_64 | aarch64) ;;
  arm64) arch=aarch64 ;;
  *) echo "build-dist: unsupported architecture $arch" >&2; exit 1 ;;
esac

# The musl standard library is in the sysroot exactly when `rustup target add` installed it.
musl="$arch-unknown-linux-musl"
if [ -d "$(rustc --print sysroot)/lib/rustlib/$musl/lib" ]; then
  target=$musl
  echo "build-dist: $target (musl, static by default)"
else
  target="$arch-unknown-linux-gnu"
  echo "build-dist: $target with -C target-feature=+crt-static (static glibc; the musl target is not installed)"
fi

# Binaries the manifest declares; the client joins the release as soon as Cargo.toml has it.
bins=$(cargo metadata --no-deps --format-version 1 \
  | grep -o '{"kind":\["bin"\][^{}]*}' \
  | sed 's/.*"name":"\([^"]*\)".*/\1/')
wanted=(token2go-server)
if grep -qx token2go <<<"$bins"; then
  wanted+=(token2go)
else
  echo "build-dist: skipping the token2go client: Cargo.toml has no bin named token2go yet"
fi

# An explicit --target keeps crt-static away from build scripts and proc macros, which must stay
# dynamic host programs. RUSTFLAGS is set, not extended, so the result does not depend on the caller.
# getrandom_backend: the getrandom crate finds glibc's getrandom() with dlsym, which a static binary
# cannot do, and then falls back to reading /dev/urandom, which an empty root or a scratch image
# without /dev lacks; this cfg makes it call getrandom(2) directly.
bin_args=()
for bin in "${wanted[@]}"; do bin_args+=(--bin "$bin"); done
RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"' \
  cargo build --release --locked --target "$target" "${bin_args[@]}"

mkdir -p "$out_dir"
names=()
for bin in "${wanted[@]}"; do
  name="$bin-$version-linux-$arch"
  cp "target/$target/release/$bin" "$out_dir/$name"
  names+=("$name")
  # Stripped by the release profile (strip = true); `file` says "static-pie linked" for the
  # position-independent static executables Rust builds by default, "statically linked" otherwise.
  if command -v file >/dev/null; then
    description=$(file -b "$out_dir/$name")
    if ! grep -Eq 'statically linked|static-pie linked' <<<"$description"; then
      echo "build-dist: $name is not static: $description" >&2
      exit 1
    fi
  fi
  echo "build-dist: $out_dir/$name $(stat -c %s "$out_dir/$name") bytes"
done
(cd "$out_dir" && sha256sum "${names[@]}" > SHA256SUMS)
echo "build-dist: $out_dir/SHA256SUMS"
