/**
 * Holds the schema to docs/scaling.md's plan, so the path to distribution by tenant does not close by
 * accident: every table is placed in the doc's table, a distributed table keeps `tenant_id` in every
 * primary, unique and foreign key, and the one NOTIFY stays in the one append function.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createPool, migrate } from '#ark/database';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const SCALING_DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/scaling.md');
const PLACEMENTS = ['distributed', 'reference', 'coordinator'] as const;
type Placement = (typeof PLACEMENTS)[number];

/** The placement table of docs/scaling.md: rows "| `table` | placement | why |". */
async function plannedPlacements(): Promise<Map<string, Placement>> {
  const text = await readFile(SCALING_DOC, 'utf8');
  const plan = new Map<string, Placement>();
  for (const match of text.matchAll(/^\| `([a-z_]+)` \| ([a-z]+) \|/gm)) {
    const placement = match[2] as Placement;
    assert.ok(PLACEMENTS.includes(placement), `docs/scaling.md places ${match[1]} as ${placement}: one of ${PLACEMENTS.join(', ')}`);
    plan.set(match[1]!, placement);
  }
  return plan;
}

interface KeyRow {
  table_name: string;
  key_name: string;
  kind: 'primary' | 'unique' | 'foreign';
  columns: string[];
  referenced_table: string | null;
  referenced_columns: string[] | null;
}

describe('schema against the scale-out plan (docs/scaling.md)', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let plan: Map<string, Placement>;
  let tables: string[];
  let keys: KeyRow[];

  before(async () => {
    database = await createTestDatabase();
    pool = createPool({ connectionString: database.url, max: 1 });
    await migrate(pool);
    plan = await plannedPlacements();
    tables = (
      await pool.query<{ relname: string }>(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1`,
      )
    ).rows.map((r) => r.relname);
    // Primary keys, unique indexes (constraints or not, partial ones too) and foreign keys, with their columns.
    keys = (
      await pool.query<KeyRow>(
        `SELECT t.relname AS table_name, i.relname AS key_name, CASE WHEN x.indisprimary THEN 'primary' ELSE 'unique' END AS kind,
                array(SELECT a.attname FROM unnest(x.indkey) k JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k)::text[] AS columns,
                NULL AS referenced_table, NULL::text[] AS referenced_columns
         FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public' AND x.indisunique
         UNION ALL
         SELECT t.relname, c.conname, 'foreign',
                array(SELECT a.attname FROM unnest(c.conkey) k JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k)::text[],
                r.relname, array(SELECT a.attname FROM unnest(c.confkey) k JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = k)::text[]
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public' AND c.contype = 'f'`,
      )
    ).rows;
  });
  after(async () => {
    await pool?.end();
    await database?.drop();
  });

  it('places every table of the schema, and only those', () => {
    assert.ok(plan.size > 10, 'docs/scaling.md has its placement table');
    assert.deepEqual([...plan.keys()].sort(), tables, 'docs/scaling.md "Placement" lists exactly the tables the migrations create');
  });

  it('keeps tenant_id (text, NOT NULL) in every distributed table', async () => {
    const distributed = [...plan].filter(([, p]) => p === 'distributed').map(([t]) => t);
    const { rows } = await pool.query<{ table_name: string; data_type: string; is_nullable: string }>(
      `SELECT table_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name = 'tenant_id' AND table_name = ANY($1)`,
      [distributed],
    );
    const columns = new Map(rows.map((r) => [r.table_name, `${r.data_type} ${r.is_nullable === 'NO' ? 'NOT NULL' : 'NULL'}`]));
    for (const table of distributed) assert.equal(columns.get(table), 'text NOT NULL', `${table}.tenant_id (the distribution column)`);
  });

  it('has tenant_id in every primary and unique key of a distributed table', () => {
    const missing = keys
      .filter((k) => k.kind !== 'foreign' && plan.get(k.table_name) === 'distributed' && !k.columns.includes('tenant_id'))
      .map((k) => `${k.table_name}.${k.key_name} (${k.columns.join(', ')})`);
    assert.deepEqual(missing, [], 'a unique key without tenant_id cannot be enforced once the table is distributed by tenant');
    assert.ok(
      keys.some((k) => k.table_name === 'events' && k.kind === 'primary'),
      'the keys were read',
    );
  });

  it('keeps foreign keys co-located: between distributed tables by tenant_id, and never from a reference table to a distributed one', () => {
    for (const k of keys.filter((key) => key.kind === 'foreign')) {
      const from = plan.get(k.table_name);
      const to = plan.get(k.referenced_table!);
      if (from === 'distributed' && to === 'distributed') {
        assert.ok(k.columns.includes('tenant_id') && k.referenced_columns!.includes('tenant_id'), `${k.table_name}.${k.key_name} joins by tenant_id`);
      }
      assert.ok(!(from === 'reference' && to === 'distributed'), `${k.table_name}.${k.key_name}: a reference table cannot point into a distributed one`);
      assert.ok(from !== 'coordinator' || to === 'coordinator', `${k.table_name}.${k.key_name}: coordinator tables stay to themselves`);
    }
  });

  it('sends NOTIFY from the append function only (the one place the Citus plan moves)', async () => {
    const { rows } = await pool.query<{ proname: string }>(
      `SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'public' AND p.prosrc ~* '\\m(pg_notify|notify)\\M' ORDER BY 1`,
    );
    assert.deepEqual(
      rows.map((r) => r.proname),
      ['ark_append_events'],
    );
  });
});
