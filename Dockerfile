# syntax=docker/dockerfile:1
# One image with the three apps (authsignal-emulator, identity-server, web-client); the
# compose file picks the binary per service. Not exercised by CI here (no Docker engine on the
# build machine): see README.md, "Docker".

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the target directory between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p authsignal-emulator -p identity-server -p web-client \
    && mkdir -p /out \
    && cp target/release/authsignal-emulator target/release/identity-server target/release/web-client /out/

FROM debian:bookworm-slim AS runtime
# curl only for the health checks; ca-certificates for a real Authsignal tenant.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app app \
    && mkdir -p /app/certs /app/data \
    && chown -R app:app /app
COPY --from=build /out/ /usr/local/bin/
WORKDIR /app
USER app
# The apps read certs/ and data/ relative to the working directory.
VOLUME ["/app/certs", "/app/data"]
EXPOSE 5001 5002 5003
CMD ["identity-server"]
