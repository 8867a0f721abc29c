import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `../shared/fixtures/ark-upstream/` beside the repository (dist/test/support → repo root → ..). */
export const UPSTREAM_FIXTURES = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return path.resolve(dir, '../shared/fixtures/ark-upstream');
})();

export function fixtureText(name: string): string {
  return readFileSync(path.join(UPSTREAM_FIXTURES, name), 'utf8');
}

export function fixtureJson<T = any>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}
