# A small image running ferry as a non-root user.
#   docker build -t ferry .
#   docker run --rm -v "$PWD:/data:ro" -e DATABASE_URL ferry copy --source /data/app.db
# FERRY_GIT_COMMIT names the commit in `ferry --version` (.git is not copied).

FROM rust:1-bookworm AS build
ARG FERRY_GIT_COMMIT=""
ENV FERRY_GIT_COMMIT=${FERRY_GIT_COMMIT}
WORKDIR /src
COPY . .
RUN cargo build --locked --release --bin ferry

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin ferry
COPY --from=build /src/target/release/ferry /usr/local/bin/ferry
USER 10001
ENTRYPOINT ["ferry"]
CMD ["--help"]
