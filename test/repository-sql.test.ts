import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import ts from 'typescript';
import { createPool, defaultMigrationsDir, migrate, sqlExamplesOf } from '#ark/database';
import { RECORDED_REPOSITORIES, recordRepositorySql, SQL_DIR, writeRepositorySql } from '../tools/repository-sql.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const ROOT = path.dirname(defaultMigrationsDir());

async function readSqlDir(dir: string): Promise<Map<string, string>> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sql')).sort();
  return new Map(await Promise.all(names.map(async (n) => [n, await readFile(path.join(dir, n), 'utf8')] as const)));
}

/** `*.repository.ts` files under a directory of the source tree, relative to the root. */
async function repositoryFiles(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, dir), { recursive: true });
  return entries.filter((f) => f.endsWith('.repository.ts')).map((f) => path.join(dir, f));
}

/** Public methods (not private, protected or static) declared by a class in a source file. */
async function publicMethods(source: string, className: string): Promise<string[]> {
  const file = ts.createSourceFile(source, await readFile(path.join(ROOT, source), 'utf8'), ts.ScriptTarget.Latest);
  const declaration = file.statements.find((s): s is ts.ClassDeclaration => ts.isClassDeclaration(s) && s.name?.text === className);
  assert.ok(declaration, `${source} declares ${className}`);
  const hidden = [ts.SyntaxKind.PrivateKeyword, ts.SyntaxKind.ProtectedKeyword, ts.SyntaxKind.StaticKeyword];
  return declaration.members
    .filter((m): m is ts.MethodDeclaration => ts.isMethodDeclaration(m) && !(m.modifiers ?? []).some((k) => hidden.includes(k.kind)))
    .map((m) => m.name.getText(file));
}

describe('repository SQL (docs/sql)', () => {
  let database: TestDatabase;
  let scratch: string;

  before(async () => {
    database = await createTestDatabase();
    const pool = createPool({ connectionString: database.url, max: 1 });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ark-repository-sql-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
    await database.drop();
  });

  it('docs/sql is the SQL the repositories send for their @GenerateSql examples', async () => {
    await writeRepositorySql(scratch, await recordRepositorySql(database.url));
    const [generated, checkedIn] = await Promise.all([readSqlDir(scratch), readSqlDir(SQL_DIR)]);
    const stale = [...new Set([...generated.keys(), ...checkedIn.keys()])].filter((name) => generated.get(name) !== checkedIn.get(name));
    assert.deepEqual(stale, [], `docs/sql is stale (${stale.join(', ')}): run \`npm run sql:generate\` and commit the result`);
  });

  it('every repository is recorded, and every public method of each has an example', async () => {
    const recorded = RECORDED_REPOSITORIES.map((r) => r.source);
    for (const file of [...(await repositoryFiles('apps')), ...(await repositoryFiles('libs'))]) {
      assert.ok(recorded.includes(file), `${file} is missing from RECORDED_REPOSITORIES (tools/repository-sql.ts)`);
    }
    for (const { source, repository } of RECORDED_REPOSITORIES) {
      const decorated = [...sqlExamplesOf(repository).keys()];
      const missing = (await publicMethods(source, repository.name)).filter((m) => !decorated.includes(m));
      assert.deepEqual(missing, [], `${repository.name} (${source}): give these methods a @GenerateSql example`);
    }
  });
});
