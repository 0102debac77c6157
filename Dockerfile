# syntax=docker/dockerfile:1
#  tollgate image: every binary (tollgate, tg-ingest, tg-router, tg-worker, tg-analytics,
#  tg-alert, tg-mock) in /opt/tollgate/bin, the pricing catalogue in
#  /opt/tollgate/share/tollgate (where tg_pricing_default_path looks: <bin>/../share/tollgate).
#  compose.yml runs one container per service; `docker run IMAGE` runs `tollgate up`.
#  NOT EXERCISED: written on a machine without a Docker engine; never built here.

#  ---- build: compilers, cmake and the -dev packages (the list of scripts/deps.sh) ----------
FROM debian:12-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libczmq-dev libzmq3-dev libmsgpack-dev liblmdb-dev libcurl4-openssl-dev libevent-dev \
        libjansson-dev libyaml-dev libxxhash-dev libcunit1-dev libsodium-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
#  CUnit is required by the top-level CMakeLists (tests/unit); only the shipped binaries are
#  built.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
    && cmake --build build -j"$(nproc)" \
        --target tollgate tg-ingest tg-router tg-worker tg-analytics tg-alert tg-mock

#  ---- runtime: the shared libraries the binaries link, CA certificates for HTTPS ----------
FROM debian:12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        libczmq4 libzmq5 libmsgpackc2 liblmdb0 libcurl4 libevent-2.1-7 libjansson4 \
        libyaml-0-2 libxxhash0 libsodium23 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home \
        --home-dir /var/lib/tollgate --shell /usr/sbin/nologin tollgate \
    && mkdir -p /run/tollgate /var/lib/tollgate \
    && chown tollgate:tollgate /run/tollgate /var/lib/tollgate
COPY --from=build /src/build/bin/ /opt/tollgate/bin/
COPY --from=build /src/build/share/tollgate/ /opt/tollgate/share/tollgate/
ENV PATH=/opt/tollgate/bin:$PATH \
    TOLLGATE_RUN_DIR=/run/tollgate \
    TOLLGATE_DATA_DIR=/var/lib/tollgate \
    TOLLGATE_HTTP_PORT=8080
#  Named volumes mounted on these paths start as copies of them (owner tollgate).
VOLUME ["/run/tollgate", "/var/lib/tollgate"]
USER tollgate
WORKDIR /var/lib/tollgate
EXPOSE 8080
CMD ["tollgate", "up"]
