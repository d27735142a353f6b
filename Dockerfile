# Build with the Swift toolchain, run on a slim Debian with only the runtime libraries.
FROM swift:6.3-bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libmicrohttpd-dev libturbojpeg0-dev libpng-dev libsqlite3-dev libopenblas-dev libdnnl-dev zlib1g-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product kennel --static-swift-stdlib \
    && install -D .build/release/kennel /out/kennel

FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libmicrohttpd12 libturbojpeg0 libpng16-16 libsqlite3-0 libopenblas0-pthread libdnnl2 zlib1g ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app kennel
WORKDIR /app
COPY --from=build /out/kennel /usr/local/bin/kennel
COPY public ./public
COPY migrations ./migrations
# /artifacts: where a multi-machine deployment mounts its shared artifact root (KENNEL_ARTIFACTS=/artifacts).
RUN mkdir -p /app/var /artifacts && chown kennel /app/var /artifacts
USER kennel
ENV KENNEL_DATA_DIR=/app/var
VOLUME ["/app/var"]
EXPOSE 8080
# Every role runs from this image: KENNEL_ROLE=all (default), api or worker, with KENNEL_DATABASE_URL for the
# shared PostgreSQL database (deploy/compose.yaml shows the topology).
ENTRYPOINT ["kennel", "serve", "--host", "0.0.0.0"]
