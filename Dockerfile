# One image, every service: `gluey <subcommand>`.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev pkg-config zlib1g-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gluey

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 gluey
COPY --from=build /src/target/release/gluey /usr/local/bin/gluey
USER gluey
EXPOSE 8080 9090
ENTRYPOINT ["gluey"]
