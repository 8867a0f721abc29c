/**
 * Tenant and owner isolation, generated from the route table (`/openapi.json`): every GET route is
 * called (plainly and, where it streams, as a watch) by every identity of two tenants, for its own
 * data and for everyone else's, and may only answer what the caller may see. A new route is covered
 * without touching this file; one with a path parameter this file cannot fill fails loudly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { startTestBroker, type TestBroker } from './support/test-broker.js';
import { sleep } from './support/sse-client.js';

const SECRET = 'isolation-suite-secret-isolation-suite-secret';
const TENANTS = ['ta', 'tb'] as const;
const USERS = ['u1', 'u2'] as const;
/** Every identifier and payload of an owner carries its token `<tenant>_<user>`; this finds them all. */
const TOKEN = /\bt[ab]_(?:u[12]|admin)\b/g;

interface Owner {
  tenant: string;
  token: string;
  sessionId: string;
  queryId: string;
  traceId: string;
  conversationId: string;
}

interface Identity {
  name: string;
  tenant: string;
  bearer: string;
  /** Tokens whose data this identity may see. */
  sees: Set<string>;
}

const owners: Owner[] = TENANTS.flatMap((tenant, t) =>
  USERS.map((user, u) => ({
    tenant,
    token: `${tenant}_${user}`,
    sessionId: `s_${tenant}_${user}`,
    queryId: `q_${tenant}_${user}`,
    traceId: `${t + 1}${u + 1}`.padEnd(32, 'a'),
    conversationId: `c_${tenant}_${user}`,
  })),
);

/** A path parameter's value for an owner's data; unknown names fail (extend this map for a new route). */
function paramValue(name: string, owner: Owner): string {
  const values: Record<string, string> = {
    sessionId: owner.sessionId,
    traceId: owner.traceId,
    queryId: owner.queryId,
    queryUid: owner.queryId,
    query: owner.queryId,
    conversationId: owner.conversationId,
    // A topic per owner: each holds only that owner's events.
    name: `notes.${owner.token}`,
  };
  const value = values[name];
  if (value === undefined) throw new Error(`isolation suite: no value for path parameter {${name}}; add it to paramValue()`);
  return value;
}

const token = (sub: string, tenant: string, roles: string[]) =>
  new SignJWT({ sub, tenant, roles }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

interface Route {
  path: string;
  params: string[];
  watchable: boolean;
  streams: boolean;
}

/** Reads a response: JSON or text in full; an event stream for `ms` (or until `stop` resolves), then it is cut. */
async function read(url: string, bearer: string, ms: number | Promise<void>): Promise<{ status: number; text: string }> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { authorization: `Bearer ${bearer}` }, signal: abort.signal });
  if (!(response.headers.get('content-type') ?? '').includes('text/event-stream')) return { status: response.status, text: await response.text() };
  let text = '';
  const decoder = new TextDecoder();
  const timer = typeof ms === 'number' ? setTimeout(() => abort.abort(), ms) : undefined;
  if (typeof ms !== 'number') void ms.then(() => abort.abort());
  try {
    for await (const chunk of response.body!) text += decoder.decode(chunk as Uint8Array, { stream: true });
  } catch {
    // cut by the timer
  } finally {
    clearTimeout(timer);
  }
  return { status: response.status, text };
}

describe('isolation of tenants and owners on every route', () => {
  let broker: TestBroker;
  const identities: Identity[] = [];
  const producers = new Map<string, string>();
  let routes: Route[] = [];

  async function post(tenant: string, path: string, body: unknown, contentType = 'application/json') {
    const res = await fetch(`${broker.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${producers.get(tenant)!}`, 'content-type': contentType },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    assert.ok(res.status < 300, `seeding ${path}: ${res.status} ${await res.text()}`);
  }

  /** Data of one owner in every store: spans, operation events, chunks, messages, native events. */
  async function seed(owner: Owner, round: string) {
    const secret = `secret ${owner.token} ${round}`;
    await post(owner.tenant, '/events', {
      timestamp: new Date().toISOString(),
      eventType: 'Normal',
      reason: 'QueryExecutionStart',
      message: secret,
      data: { queryId: owner.queryId, queryName: owner.queryId, sessionId: owner.sessionId, userId: owner.token },
    });
    const now = `${Date.now()}000000`;
    await post(owner.tenant, '/v1/traces', {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'isolation' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: owner.traceId,
                  spanId: `${round === 'seed' ? '1' : '2'}`.padEnd(16, '0'),
                  name: 'custom.work',
                  kind: 1,
                  startTimeUnixNano: now,
                  endTimeUnixNano: now,
                  attributes: [
                    { key: 'ark.session.id', value: { stringValue: owner.sessionId } },
                    { key: 'query.uid', value: { stringValue: owner.queryId } },
                    { key: 'user.id', value: { stringValue: owner.token } },
                    { key: 'note', value: { stringValue: secret } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    await post(
      owner.tenant,
      `/stream/${owner.queryId}`,
      `${JSON.stringify({ choices: [{ delta: { content: secret } }], ark: { session: owner.sessionId, query: owner.queryId } })}\n`,
      'application/x-ndjson',
    );
    await post(owner.tenant, '/messages', { conversation_id: owner.conversationId, query_id: owner.queryId, messages: [{ role: 'user', content: secret }] });
    await post(owner.tenant, '/v2/events', { sessionId: owner.sessionId, type: 'custom.note', userId: owner.token, queryId: owner.queryId, data: { secret } });
    await post(owner.tenant, `/v2/streams/notes.${owner.token}`, { sessionId: owner.sessionId, userId: owner.token, data: { secret } });
  }

  before(async () => {
    broker = await startTestBroker({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET, RATE_LIMIT_WRITES_PER_SECOND: '0', WATCH_STREAMS_PER_USER: '1000' });
    for (const tenant of TENANTS) {
      producers.set(tenant, await token(`ingest_${tenant}`, tenant, ['producer']));
      identities.push({
        name: `${tenant}_admin`,
        tenant,
        bearer: await token(`${tenant}_admin`, tenant, ['admin']),
        sees: new Set(USERS.map((u) => `${tenant}_${u}`).concat(`${tenant}_admin`)),
      });
      for (const user of USERS) {
        const sub = `${tenant}_${user}`;
        identities.push({ name: sub, tenant, bearer: await token(sub, tenant, ['reader']), sees: new Set([sub]) });
      }
    }
    for (const owner of owners) await seed(owner, 'seed');
    const document = (await (await fetch(`${broker.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; responses?: Record<string, { content?: Record<string, unknown> }> }>>;
    };
    for (const [path, operations] of Object.entries(document.paths)) {
      const get = operations.get;
      if (!get || /^\/(health|readyz|metrics|openapi|api-docs)/.test(path)) continue;
      const params = (get.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      const contentTypes = Object.values(get.responses ?? {}).flatMap((r) => Object.keys(r.content ?? {}));
      routes.push({
        path,
        params,
        watchable: (get.parameters ?? []).some((p) => p.in === 'query' && p.name === 'watch'),
        streams: contentTypes.includes('text/event-stream'),
      });
    }
    routes = routes.sort((a, b) => a.path.localeCompare(b.path));
  });
  after(() => broker.close());

  /** The calls to make as `identity`: each route for every owner's ids (or once when it takes none). */
  function calls(identity: Identity, watch: boolean) {
    const out: { identity: Identity; url: string; owner?: Owner; removed: string[] }[] = [];
    for (const route of routes) {
      if (watch && !route.watchable && !route.streams) continue;
      if (!watch && route.watchable === false && route.streams) continue; // pure streams are read in the watch pass
      const query = watch && route.watchable ? '?watch=true' : '';
      if (route.params.length === 0) {
        out.push({ identity, url: `${broker.url}${route.path}${query}`, removed: [] });
        continue;
      }
      for (const owner of owners) {
        const values = route.params.map((p) => paramValue(p, owner));
        let path = route.path;
        route.params.forEach((p, i) => (path = path.replace(`{${p}}`, encodeURIComponent(values[i]!))));
        out.push({ identity, url: `${broker.url}${path}${query}`, owner, removed: values });
      }
    }
    return out;
  }

  function leaks(identity: Identity, text: string, removed: string[]): string[] {
    let scanned = text;
    for (const value of removed) scanned = scanned.replaceAll(value, '');
    return [...new Set(scanned.match(TOKEN) ?? [])].filter((t) => !identity.sees.has(t));
  }

  it('covers the routes of every store', () => {
    const paths = routes.map((r) => r.path);
    for (const expected of [
      '/traces',
      '/events',
      '/stream',
      '/messages',
      '/sessions',
      '/v2/events',
      '/v2/sessions',
      '/v2/tool-calls',
      '/v2/queries/{queryId}/completion',
      '/v2/streams/{name}',
    ]) {
      assert.ok(paths.includes(expected), `${expected} is in the route table`);
    }
  });

  it('answers every lookup and list with the caller’s data only, and another owner’s as unknown', async () => {
    const failures: string[] = [];
    let ownHits = 0;
    // Identities in parallel, each one's calls in turn: event streams are cut after 300 ms each.
    await Promise.all(
      identities.map(async (identity) => {
        for (const call of calls(identity, false)) {
          const { status, text } = await read(call.url, identity.bearer, 300);
          const route = call.url.slice(broker.url.length);
          if (status >= 500) failures.push(`${identity.name} GET ${route}: ${status}`);
          const leaked = leaks(identity, text, call.removed);
          if (leaked.length > 0) failures.push(`${identity.name} GET ${route} (${status}) shows ${leaked.join(', ')}`);
          if (call.owner && !identity.sees.has(call.owner.token) && status < 300 && leaks({ ...identity, sees: new Set() }, text, call.removed).length > 0) {
            failures.push(`${identity.name} GET ${route} answered data of ${call.owner.token}`);
          }
          if (call.owner && identity.sees.has(call.owner.token) && status === 200 && text.includes(call.owner.token)) ownHits++;
        }
      }),
    );
    assert.deepEqual(failures, []);
    assert.ok(ownHits > 20, `identities see their own data (${ownHits} lookups)`);
  });

  it('lets readers see their own sessions on every store', async () => {
    const reader = identities.find((i) => i.name === 'ta_u1')!;
    for (const path of ['/traces', '/events', '/stream', '/messages', '/sessions', '/v2/events', '/v2/sessions', '/memory-status', '/conversations']) {
      const { status, text } = await read(`${broker.url}${path}`, reader.bearer, 300);
      assert.equal(status, 200, path);
      assert.ok(text.includes('ta_u1'), `${path} shows the reader's own data: ${text.slice(0, 300)}`);
      assert.deepEqual(leaks(reader, text, []), [], path);
    }
    for (const path of [
      `/sessions/s_ta_u2`,
      `/v2/sessions/s_ta_u2`,
      `/v2/sessions/s_ta_u2/events`,
      `/traces/${owners[1]!.traceId}`,
      `/conversations/c_ta_u2`,
      `/v2/queries/q_ta_u2`,
      `/sessions/s_tb_u1`,
    ]) {
      assert.equal((await read(`${broker.url}${path}`, reader.bearer, 300)).status, 404, path);
    }
  });

  it('streams every watch with the caller’s events only', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const open = identities.flatMap((identity) => calls(identity, true)).map((call) => ({ call, result: read(call.url, call.identity.bearer, stopped) }));
    await sleep(1_000);
    for (const owner of owners) await seed(owner, 'live');
    await sleep(1_500);
    stop();
    const failures: string[] = [];
    let ownEvents = 0;
    for (const { call, result } of open) {
      const { status, text } = await result;
      const route = call.url.slice(broker.url.length);
      if (status >= 500) failures.push(`${call.identity.name} watch ${route}: ${status}`);
      const leaked = leaks(call.identity, text, call.removed);
      if (leaked.length > 0) failures.push(`${call.identity.name} watch ${route} (${status}) streamed ${leaked.join(', ')}`);
      if (text.includes(`live`) && text.includes(call.identity.name.replace('_admin', '_u1'))) ownEvents++;
    }
    assert.deepEqual(failures, []);
    assert.ok(ownEvents > 10, `watches deliver the caller's own live events (${ownEvents})`);
  });

  it('keeps a tenant’s data when another tenant deletes with its ids', async () => {
    const intruder = identities.find((i) => i.name === 'tb_admin')!;
    const document = (await (await fetch(`${broker.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;
    };
    const victim = owners[0]!;
    for (const [path, operations] of Object.entries(document.paths)) {
      if (!operations.delete) continue;
      const params = (operations.delete.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      let url = path;
      for (const p of params) url = url.replace(`{${p}}`, encodeURIComponent(paramValue(p, victim)));
      const res = await fetch(`${broker.url}${url}`, { method: 'DELETE', headers: { authorization: `Bearer ${intruder.bearer}` } });
      assert.ok(res.status < 500, `DELETE ${url}: ${res.status}`);
      const reader = await fetch(`${broker.url}${url}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${identities.find((i) => i.name === 'ta_u1')!.bearer}` },
      });
      assert.equal(reader.status, 403, `a reader may not DELETE ${url}`);
    }
    const admin = identities.find((i) => i.name === 'ta_admin')!;
    for (const path of ['/traces', '/events', '/stream', '/messages', '/sessions', '/conversations']) {
      const { text } = await read(`${broker.url}${path}`, admin.bearer, 300);
      assert.ok(text.includes(victim.token), `${path} still holds ${victim.token} after tenant tb deleted everything`);
    }
  });
});
