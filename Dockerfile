# kafka-pulse container image.
#
#   docker build -t kafka-pulse .
#       everything, including the embedded broker (a clean build takes
#       about 10 minutes on 2 cores with msk-iam)
#   docker build --build-arg CARGO_FEATURES=--no-default-features -t kafka-pulse:collector .
#       --brokers only, much faster to build (what docker-compose.yml uses)
#
# Both builds have the msk-iam feature: Amazon MSK IAM with AWS's whole
# credential chain (EKS IRSA, ECS task roles, EC2 instance roles, profiles),
# which is how containers on AWS get their credentials.
#
# Inside the container kafka-pulse listens on 0.0.0.0:8080 (KAFKA_PULSE_LISTEN
# below); the binary's own default stays 127.0.0.1. If you change the port,
# change EXPOSE and HEALTHCHECK with it (tests/compose.rs checks they agree).

FROM rust:1.95.0-slim-bookworm AS builder

# What .ci/run installs for the build: a C toolchain for the bundled
# librdkafka and sqlite, pkg-config and the zlib and OpenSSL headers
# librdkafka links (TLS and SASL SCRAM of its clients).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config zlib1g-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Empty, or --no-default-features for a collector-only binary; msk-iam is
# added to either.
ARG CARGO_FEATURES=""

# Dependencies first, built against stand-in sources: this layer is rebuilt
# only when Cargo.toml or Cargo.lock change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > benches/analysis.rs \
    && echo 'fn main() {}' > benches/sinks.rs \
    && echo 'fn main() {}' > benches/metrics.rs \
    && echo 'fn main() {}' > benches/memory_hour.rs \
    && cargo build --release --locked --features msk-iam $CARGO_FEATURES \
    && rm -rf src benches

COPY src ./src
COPY templates ./templates
COPY static ./static
COPY benches ./benches
# touch: the copied files may be older than the stand-in build above.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --features msk-iam $CARGO_FEATURES \
    && strip target/release/kafka-pulse \
    && cp target/release/kafka-pulse /usr/local/bin/kafka-pulse

# Debian 12 (bookworm), the same release as the builder.
FROM debian:12.11-slim

# ca-certificates: https to InfluxDB/Elasticsearch and Kafka's TLS; curl: the
# HEALTHCHECK; libssl3: librdkafka's TLS (linked to the system OpenSSL).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --create-home \
        --home-dir /var/lib/kafka-pulse kafka-pulse

COPY --from=builder /usr/local/bin/kafka-pulse /usr/local/bin/kafka-pulse

USER 10001:10001
WORKDIR /var/lib/kafka-pulse
ENV KAFKA_PULSE_LISTEN=0.0.0.0:8080
# Dashboard, JSON API and /metrics.
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/api/v1/health || exit 1
ENTRYPOINT ["/usr/local/bin/kafka-pulse"]
