# syntax=docker/dockerfile:1
# Portico: one binary on PostgreSQL.
#
#   docker build -t portico .
#   docker run --rm portico keys generate --id k1              # an encryption key spec "k1:base64..."
#   docker run -p 8080:8080 \
#     -e PORTICO__DATABASE__URL=postgres://USER:PASSWORD@HOST:5432/portico \
#     -e PORTICO__SECURITY__ENCRYPTION_KEYS=k1:... \
#     -e PORTICO__SERVER__PUBLIC_URL=https://sso.example.com portico
#
# docker-compose.yml runs it with PostgreSQL. The image has no PostgreSQL server: it needs a database
# URL (the embedded development database of `portico serve` is for scripts/dev only).
# Needs BuildKit (the default builder of Docker 23+) for the cache mounts.

# Fully qualified names: podman has no default search registry for short names. Where no registry
# is reachable, pass a locally made Debian bookworm image with a Rust toolchain (e.g.
# mmdebstrap | podman import, as scripts/container-check does) as this build arg.
ARG RUST_IMAGE=docker.io/library/rust:1-bookworm

# ---- toolchain: the Rust image with the one -dev package the build links against -----------------
FROM ${RUST_IMAGE} AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*

# ---- build --------------------------------------------------------------------------------------
FROM toolchain AS builder
WORKDIR /src
# Only what the build reads (no target/, .portico/ or .git from the build context).
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY migrations migrations
COPY tests tests
ENV CARGO_TERM_COLOR=never
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p portico-server --bin portico \
 && install -m 0755 target/release/portico /usr/local/bin/portico

# ---- the runtime's files ------------------------------------------------------------------------
# `ldd portico` lists libssl.so.3, libcrypto.so.3, libgcc_s.so.1, libm.so.6 and libc.so.6: the
# packages libssl3, libgcc-s1 and libc6, copied from the very system that linked the binary (same
# versions), without their maintainer scripts, gconv modules, programs or docs (copyright kept), and
# their dpkg records in /var/lib/dpkg/status.d/ so image scanners see what is installed. Nothing
# else: no shell, no package manager, no CA bundle (every outbound TLS connection verifies against
# the web PKI roots compiled into the binary), no time zone data (Portico works in UTC).
FROM toolchain AS rootfs
RUN set -eu; R=/rootfs; \
    mkdir -p "$R/usr/lib" "$R/usr/bin" "$R/usr/local/bin" "$R/etc" "$R/app" "$R/var/lib/dpkg/status.d"; \
    for d in bin sbin lib lib64; do \
      if [ -L "/$d" ]; then t=$(readlink "/$d"); mkdir -p "$R/$t"; ln -s "$t" "$R/$d"; fi; \
    done; \
    for p in libc6 libgcc-s1 libssl3; do \
      dpkg-query -s "$p" >"$R/var/lib/dpkg/status.d/$p"; \
      dpkg -L "$p" | while read -r f; do \
        case "$f" in \
          /usr/share/doc/*/copyright) ;; \
          /usr/share/*|*/gconv/*|*/bin/*|*/sbin/*) continue ;; \
        esac; \
        if [ -L "$f" ] || [ -f "$f" ]; then \
          d=$(readlink -f "$(dirname "$f")"); mkdir -p "$R$d"; cp -a "$f" "$R$d/"; \
        fi; \
      done; \
    done; \
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nportico:x:10001:10001:portico:/app:/usr/sbin/nologin\n' >"$R/etc/passwd"; \
    printf 'root:x:0:\nportico:x:10001:\n' >"$R/etc/group"; \
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$R/etc/nsswitch.conf"; \
    mkdir -m 1777 "$R/tmp"

# ---- runtime ------------------------------------------------------------------------------------
FROM scratch
COPY --from=rootfs /rootfs/ /
COPY --from=builder /usr/local/bin/portico /usr/local/bin/portico
WORKDIR /app
# `portico serve` reads config/default.toml from its working folder; everything else comes from
# PORTICO__SECTION__KEY variables (secrets also as PORTICO__SECTION__KEY_FILE, e.g. a mounted secret).
# The image has no PostgreSQL server, so no embedded development database: PORTICO__DATABASE__URL
# is required.
COPY config/ /app/config/
ENV PATH=/usr/local/bin \
    PORTICO__SERVER__BIND=0.0.0.0:8080 \
    PORTICO__LOG__FORMAT=json
USER 10001:10001
EXPOSE 8080
# `portico healthcheck` asks /healthz on server.bind's port (no shell or curl in the image). Docker
# keeps this; podman/buildah drop it unless built with `--format docker` (the compose file carries
# its own health check, which covers compose on both engines).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["portico", "healthcheck"]
ENTRYPOINT ["portico"]
CMD ["serve"]
