# A static token2go-server in an empty image: nothing but the binary runs in the container.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# std-only networking (no name resolution), so a static glibc build is safe.
RUN RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --bin token2go-server --target x86_64-unknown-linux-gnu \
 && cp target/x86_64-unknown-linux-gnu/release/token2go-server /token2go-server

FROM scratch
COPY --from=build /token2go-server /token2go-server
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/token2go-server"]
