// `npm run test:upstream-fixtures`: the tests that read payload fixtures, run on the reference copies of
// upstream Ark's payloads instead of the project's own test/fixtures/. Those copies are not part of the
// repository: they sit beside it (as on CI) or wherever ARK_UPSTREAM_FIXTURES points.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = process.env.ARK_UPSTREAM_FIXTURES ? path.resolve(process.env.ARK_UPSTREAM_FIXTURES) : path.resolve(root, '../shared/fixtures/ark-upstream');
if (!existsSync(dir)) {
  console.error(`test:upstream-fixtures: no upstream fixtures at ${dir}; set ARK_UPSTREAM_FIXTURES to their directory`);
  process.exit(1);
}

const tests = readdirSync(path.join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts') && readFileSync(path.join(root, 'test', f), 'utf8').includes("from './support/fixtures.js'"))
  .sort()
  .map((f) => path.join('dist', 'test', f.replace(/\.ts$/, '.js')));

const run = (command, args, env = process.env) => spawnSync(command, args, { cwd: root, stdio: 'inherit', env }).status ?? 1;
let code = run('npm', ['run', 'build']);
if (code === 0) {
  console.log(`# fixtures from ${dir}`);
  code = run(process.execPath, ['dist/test/run-tests.js', ...tests], { ...process.env, TEST_FIXTURES_DIR: dir });
}
process.exit(code);
