# syntax=docker/dockerfile:1
# Multi-stage build of taskgate. Offline builds: run `cargo vendor vendor` first; when a
# vendor/ directory is present the build uses it and never touches the network.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN if [ -d vendor ]; then \
      mkdir -p .cargo && \
      printf '[source.crates-io]\nreplace-with = "vendored-sources"\n\n[source.vendored-sources]\ndirectory = "vendor"\n' \
        > .cargo/config.toml && \
      cargo build --release --locked --offline; \
    else \
      cargo build --release --locked; \
    fi

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin taskgate
COPY --from=build /src/target/release/taskgate /usr/local/bin/taskgate
USER 10001
ENV TASKGATE_LISTEN=0.0.0.0:8080 \
    TASKGATE_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/taskgate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/taskgate"]
