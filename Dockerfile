# syntax=docker/dockerfile:1
#
# Ark Broker container image, where a container registry (for the node base image) and a build
# daemon are at hand. Without them, `npm run build && npm run image:build` builds an equivalent image
# from the package registries alone (tools/build-image.ts; README "Container image"), as CI does.
#
#   docker build -t ark-broker:$(node -p 'require("./package.json").version') .
#   docker run --rm -p 8080:8080 -e DATABASE_URL=postgres://user:pass@host:5432/db ark-broker
#
# In a container always set DATABASE_URL: the image has no embedded PostgreSQL (that is for `npm
# start` on a laptop). `docker compose up` runs the broker together with a PostgreSQL server.

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: install every dependency and compile TypeScript to dist/ --------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# swagger-ui-dist pulls in @scarf/scarf, whose install script phones home; turn it off.
ENV SCARF_ANALYTICS=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
# Install scripts stay on here: the `node` devDependency's preinstall provides the Node binary that
# node_modules/.bin/node resolves to while `npm run build` runs.
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY apps ./apps
COPY libs ./libs
RUN npm run build

# ---- prod-deps: production dependencies only ---------------------------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
ENV SCARF_ANALYTICS=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
# --omit=optional leaves out the embedded PostgreSQL binaries (@embedded-postgres/<os>-<arch>, ~60 MiB):
# a container always has DATABASE_URL, and without the binaries a missing one fails start-up with a
# clear message. No install scripts are needed for production dependencies.
RUN npm ci --omit=dev --omit=optional --ignore-scripts \
 && npm cache clean --force

# ---- runtime -----------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# NO_COLOR: plain log lines (no ANSI colour codes) for log collectors.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    NO_COLOR=1 \
    LOG_FORMAT=json
WORKDIR /app
# A fixed numeric uid/gid so Kubernetes can verify runAsNonRoot.
RUN groupadd --gid 10001 ark \
 && useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin ark
# Everything the service reads, owned by root and read-only to the service user. package.json is
# needed at run time: its "imports" map resolves `#ark/*`, and the migrator finds migrations/ beside it.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json LICENSE ./
COPY migrations ./migrations
USER 10001:10001
EXPOSE 8080
# Liveness only (GET /health); readiness (GET /readyz: database + LISTEN connection) is for the orchestrator.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node is PID 1: the broker handles SIGTERM itself (closes SSE streams so clients resume elsewhere,
# drains pending appends, then exits).
# Memory (README "Broker memory"): a 16 MiB semi-space and 1.5x old-space growth bound V8's committed
# heap; glibc's fixed thresholds make Node's 64 KiB socket-read buffers mmapped and returned on free
# instead of fragmenting the main arena. Together: 699 -> 218 MiB RSS after a benchmark pass.
ENV MALLOC_MMAP_THRESHOLD_=65536 \
    MALLOC_TRIM_THRESHOLD_=131072
CMD ["node", "--max-semi-space-size=16", "--heap-growing-percent=50", "dist/apps/cli/src/main.js", "serve"]
