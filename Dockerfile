#  tollgate image: every binary (tollgate, tg-ingest, tg-router, tg-worker, tg-analytics,
#  tg-alert, tg-mock) in /opt/tollgate/bin, the pricing catalogue in
#  /opt/tollgate/share/tollgate (where tg_pricing_default_path looks: <bin>/../share/tollgate).
#  compose.yml runs one container per service; `docker run IMAGE` runs `tollgate up`.
#  Built and run on Debian 12's docker.io 20.10 with the classic builder (DOCKER_BUILDKIT=0)
#  and docker-compose 1.29: tests/docker/compose.sh. Nothing here needs BuildKit or a
#  Dockerfile frontend from a registry, so an offline build works with either builder.

#  ---- build: compilers, cmake and the -dev packages (the list of scripts/deps.sh) ----------
FROM debian:12-slim AS build
#  Marks the build stage's images: `docker image prune --filter label=org.tollgate.stage=build`
#  drops the dangling ones that earlier builds left (and with them the compile cache).
LABEL org.tollgate.stage=build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libczmq-dev libzmq3-dev libmsgpack-dev liblmdb-dev libcurl4-openssl-dev libevent-dev \
        libjansson-dev libyaml-dev libxxhash-dev libcunit1-dev libsodium-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
#  CUnit is required by the top-level CMakeLists (tests/unit); only the shipped binaries are
#  built, then stripped of symbols.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
    && cmake --build build -j"$(nproc)" \
        --target tollgate tg-ingest tg-router tg-worker tg-analytics tg-alert tg-mock \
    && strip --strip-unneeded build/bin/*

#  ---- runtime: the shared libraries the binaries link, CA certificates for HTTPS ----------
FROM debian:12-slim
#  The group and user get the fixed id 10001, outside the ranges Debian hands out to system
#  (100-999) and login (1000-59999) accounts, so files on the volumes do not look owned by a
#  host group such as docker (often 999).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        libczmq4 libzmq5 libmsgpackc2 liblmdb0 libcurl4 libevent-2.1-7 libjansson4 \
        libyaml-0-2 libxxhash0 libsodium23 zlib1g \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/* \
        /usr/share/man/* /usr/share/info/* \
    && find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete \
    && groupadd --system --gid 10001 tollgate \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/tollgate --shell /usr/sbin/nologin tollgate \
    && mkdir -p /run/tollgate /var/lib/tollgate \
    && chown tollgate:tollgate /run/tollgate /var/lib/tollgate
COPY --from=build /src/build/bin/ /opt/tollgate/bin/
COPY --from=build /src/build/share/tollgate/ /opt/tollgate/share/tollgate/
ENV PATH=/opt/tollgate/bin:$PATH \
    TOLLGATE_RUN_DIR=/run/tollgate \
    TOLLGATE_DATA_DIR=/var/lib/tollgate \
    TOLLGATE_HTTP_PORT=8080
#  No VOLUME instruction: it would leave anonymous volumes behind every container run
#  without -v. Mount a volume on /var/lib/tollgate to keep the data (compose.yml does).
USER tollgate
WORKDIR /var/lib/tollgate
EXPOSE 8080
#  For `docker run IMAGE` (tollgate up): /readyz, the whole set. compose.yml sets one per
#  service.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["tollgate", "status"]
CMD ["tollgate", "up"]
