import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { CLIENT_TYPES_FILE, generateClientFiles, OPENAPI_FILE } from '../tools/client-types.js';

// The OpenAPI document (GET /openapi.json) is complete and lints clean with Redocly's recommended
// rules, and libs/client's checked-in document and generated types are current.

describe('OpenAPI document and client types', () => {
  let generated: { document: string; types: string };
  before(async () => (generated = await generateClientFiles()));

  it('lints clean (Redocly recommended rules, warnings included)', async () => {
    const { document } = generated;
    const problems = await lintFromString({ source: document, absoluteRef: OPENAPI_FILE, config: await createConfig({ extends: ['recommended'] }) });
    assert.deepEqual(
      problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer ?? ''}`),
      [],
    );
  });

  it('describes every route, the watch streams as text/event-stream, and an error body on every operation', async () => {
    const document = JSON.parse(generated.document) as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
    };
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const ok = Object.entries(operation.responses).find(([status]) => status.startsWith('2'));
        assert.ok(ok?.[1].content, `${method} ${path} describes its answer`);
        assert.ok(operation.responses['4XX']?.content?.['application/json'], `${method} ${path} describes its errors`);
      }
    }
    const sse = (path: string) => Object.keys(document.paths[path]?.get?.responses['200']?.content ?? {}).includes('text/event-stream');
    for (const path of [
      '/v2/events',
      '/v2/sessions/{sessionId}/events',
      '/v2/sessions/{sessionId}',
      '/v2/queries/{queryId}/completion',
      '/stream/{query}',
      '/sessions',
      '/events',
      '/traces',
      '/messages',
    ]) {
      assert.ok(sse(path), `${path} documents its SSE stream`);
    }
  });

  it('the checked-in document and client types are current (`npm run client:generate`)', async () => {
    const { document, types } = generated;
    assert.equal(await readFile(OPENAPI_FILE, 'utf8'), document, 'libs/client/openapi.json is stale: run `npm run client:generate`');
    assert.equal(await readFile(CLIENT_TYPES_FILE, 'utf8'), types, 'libs/client/src/generated/broker-api.ts is stale: run `npm run client:generate`');
  });
});
