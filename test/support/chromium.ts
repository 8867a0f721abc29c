import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/**
 * The Chromium the browser tests drive: CHROMIUM_PATH, else `chromium` (Debian's package) or
 * `chromium-browser` on PATH. Throws when there is none: the viewer test fails rather than skips.
 */
export function chromiumExecutable(): string {
  const candidates = process.env.CHROMIUM_PATH
    ? [process.env.CHROMIUM_PATH]
    : (process.env.PATH ?? '').split(path.delimiter).flatMap((dir) => ['chromium', 'chromium-browser'].map((name) => path.join(dir, name)));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not this one
    }
  }
  throw new Error(
    process.env.CHROMIUM_PATH
      ? `CHROMIUM_PATH=${process.env.CHROMIUM_PATH} is not an executable file`
      : 'no Chromium found: install it (`apt-get install -y chromium`, as .ci/run does) or set CHROMIUM_PATH to its executable',
  );
}
