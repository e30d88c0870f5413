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
# is reachable, pass locally made base images (e.g. mmdebstrap | podman import) as these build args.
ARG RUST_IMAGE=docker.io/library/rust:1-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

# ---- build --------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
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

# ---- runtime ------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
# The binary links libssl3/libcrypto and libc only (samael/xmlsec are test-only); curl is for the
# health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 portico \
 && useradd --system --uid 10001 --gid portico --home-dir /app --no-create-home --shell /usr/sbin/nologin portico
COPY --from=builder /usr/local/bin/portico /usr/local/bin/portico
WORKDIR /app
# `portico serve` reads config/default.toml from its working folder; everything else comes from
# PORTICO__SECTION__KEY variables (secrets also as PORTICO__SECTION__KEY_FILE, e.g. a mounted secret).
COPY config/ /app/config/
ENV PORTICO__SERVER__BIND=0.0.0.0:8080 \
    PORTICO__LOG__FORMAT=json
USER portico:portico
EXPOSE 8080
# Docker keeps this; podman/buildah drop it unless built with `--format docker` (the compose file
# carries its own health check, which covers compose on both engines).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["portico"]
CMD ["serve"]
