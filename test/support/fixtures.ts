import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The payload fixtures the tests read: the project's own `test/fixtures/` (upstream Ark's wire shapes,
 * our content), or the directory in TEST_FIXTURES_DIR, which `npm run test:upstream-fixtures` points at
 * the reference copies of upstream's payloads so the same tests run on both.
 */
export const FIXTURES_DIR = (() => {
  if (process.env.TEST_FIXTURES_DIR) return path.resolve(process.env.TEST_FIXTURES_DIR);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return path.join(dir, 'test', 'fixtures');
})();

export function fixtureText(name: string): string {
  return readFileSync(path.join(FIXTURES_DIR, name), 'utf8');
}

export function fixtureJson<T = any>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}
