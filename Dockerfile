# taskgate container image: a build stage (Rust) and a small runtime stage (Debian slim, non-root,
# with a health check). Base images are pinned to the Rust release and the Debian release; pin a
# digest (`@sha256:...`) as well when your registry policy asks for it.
#
# The build fetches crates from crates.io (or your registry mirror). Dependencies are built in a
# layer of their own, from Cargo.toml and Cargo.lock alone, so editing the source rebuilds only
# taskgate itself. .dockerignore admits only what the build reads.
#
# The image listens on 0.0.0.0:8080, which taskgate refuses to do without API keys: give it
# TASKGATE_API_KEYS_FILE (or TASKGATE_API_KEYS) and TASKGATE_REDIS_URL. See README "Operations".

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > benches/hot_path.rs \
 && cargo build --release --locked \
 && rm -rf src benches
COPY src src
COPY benches benches
COPY dashboard dashboard
# The placeholder crate was built a moment ago; touching makes cargo rebuild it from the source.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && cp target/release/taskgate /taskgate

FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin taskgate
# Trusted roots for rediss:// URLs, without installing packages in this stage.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /taskgate /usr/local/bin/taskgate
USER 10001
ENV TASKGATE_LISTEN=0.0.0.0:8080 \
    TASKGATE_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/taskgate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/taskgate"]
