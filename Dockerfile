# A static token2go-server in an empty image: nothing but the binary runs in the container.
#   docker build -t token2go .
#   docker run --rm -p 8080:8080 token2go
# The image is built for the platform it is built on (or the one `--platform` names, under
# emulation): the builder compiles natively, no cross toolchain.
#
# Where the final stage takes the server from is the build argument SERVER_FROM:
#   build  (the default) the builder stage below compiles it from the sources;
#   dist   the static binary scripts/build-dist.sh made, at the context path SERVER_BINARY; no
#          Rust image is pulled and nothing is compiled:
#     scripts/build-dist.sh
#     docker build --build-arg SERVER_FROM=dist \
#       --build-arg SERVER_BINARY=dist/token2go-server-0.1.0-linux-x86_64 -t token2go .
# tests/tools/container.rs builds and runs the dist route with podman and replays the builder's
# steps on a copy of exactly the files they COPY.
ARG SERVER_FROM=build

# Pinned, so a rebuild of the same commit uses the same compiler.
FROM rust:1.95.0-bookworm AS build
# Set by BuildKit from the target platform: amd64 or arm64.
ARG TARGETARCH
# Every step below writes inside this directory only (relative paths), which is what lets the
# test replay them in a temporary directory.
WORKDIR /src

# Static, as scripts/build-dist.sh builds it (see there for the getrandom cfg: without it the
# static server reads /dev/urandom instead of calling getrandom(2)). std-only networking, no name
# resolution, no NSS: a static glibc build is safe. One value for both builds below, so the
# dependency layer stays valid for the second.
ENV RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"'

# The Rust target for this architecture. An explicit --target keeps crt-static away from build
# scripts and proc macros, which must stay dynamic programs of the builder.
RUN case "${TARGETARCH:-$(dpkg --print-architecture)}" in \
      amd64) echo x86_64-unknown-linux-gnu ;; \
      arm64) echo aarch64-unknown-linux-gnu ;; \
      *) echo "unsupported architecture: ${TARGETARCH}" >&2; exit 1 ;; \
    esac > rust-target

# Dependency layer: the manifests with a stub build script and stub sources, so a change under
# src/, assets/ or to build.rs rebuilds only our crate. The real build.rs reads assets/, which
# this layer does not have; the build-dependencies it uses are compiled here all the same, since
# Cargo.toml names them. A stub stands in for every target path Cargo.toml names; each starts
# with a doc comment, since the [lints] table denies missing docs.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
 && printf '//! Stub.\nfn main() {}\n' > build.rs \
 && printf '//! Stub.\n' > src/lib.rs \
 && for f in src/main.rs $(sed -n 's/^path *= *"\(.*\)"/\1/p' Cargo.toml); do \
      mkdir -p "$(dirname "$f")" && printf '//! Stub.\nfn main() {}\n' > "$f"; \
    done \
 && cargo build --release --locked --target "$(cat rust-target)" --bin token2go-server \
 && rm -rf src build.rs

COPY build.rs ./
COPY src ./src
COPY assets ./assets
# COPY keeps the files' own modification times, which can be older than the stub build's
# artifacts; touching makes cargo rebuild the build script and our crate from the real sources.
RUN touch build.rs \
 && find src -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --target "$(cat rust-target)" --bin token2go-server \
 && cp "target/$(cat rust-target)/release/token2go-server" token2go-server \
 && ./token2go-server --version

# The other source of the server: a binary from scripts/build-dist.sh in the build context
# (.dockerignore lets dist/token2go-server-* through), at the same path as the builder's.
FROM scratch AS dist
ARG SERVER_BINARY=dist/token2go-server
COPY ${SERVER_BINARY} /src/token2go-server

FROM ${SERVER_FROM} AS server

FROM scratch
LABEL org.opencontainers.image.title="token2go-server" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=server /src/token2go-server /token2go-server
# No /etc/passwd in the image: a numeric user, the one distroless calls "nonroot".
USER 65532:65532
EXPOSE 8080
# GETs /health on 127.0.0.1 at T2G_SERVER_PORT itself: no shell or curl in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/token2go-server", "healthcheck"]
ENTRYPOINT ["/token2go-server"]
