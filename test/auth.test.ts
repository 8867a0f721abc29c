import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, UnsecuredJWT } from 'jose';
import { ApiKeys, AuthError, CallerAuthenticator } from '#ark/tenancy';
import { runCli } from './support/cli.js';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { startTestBroker, type TestBroker } from './support/test-broker.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const key = new TextEncoder().encode(SECRET);

async function token(claims: Record<string, unknown>, options: { issuer?: string; audience?: string; expires?: string; secret?: Uint8Array } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setIssuer(options.issuer ?? 'https://auth.example')
    .setAudience(options.audience ?? 'ark-broker')
    .setExpirationTime(options.expires ?? '5m')
    .sign(options.secret ?? key);
}

async function call(url: string, method: string, bearer?: string, body?: unknown) {
  const res = await fetch(url, {
    method,
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

describe('AUTH_MODE=jwt', () => {
  let broker: TestBroker;
  let alice: string; // tenant A, producer + reader
  let bob: string; // tenant B, producer + reader
  before(async () => {
    broker = await startTestBroker({
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: SECRET,
      AUTH_JWT_ISSUER: 'https://auth.example',
      AUTH_JWT_AUDIENCE: 'ark-broker',
      AUTH_CACHE_SECONDS: '1',
    });
    alice = await token({ sub: 'alice', tenant: 'tenant-a', roles: ['producer', 'reader'] });
    bob = await token({ sub: 'bob', tenant: 'tenant-b', roles: ['producer', 'reader'] });
  });
  after(() => broker.close());

  it('leaves probes and the API description public, and refuses calls without a token', async () => {
    assert.equal((await call(`${broker.url}/health`, 'GET')).status, 200);
    assert.equal((await call(`${broker.url}/openapi.json`, 'GET')).status, 200);
    const anonymous = await call(`${broker.url}/v2/events`, 'POST', undefined, { sessionId: 's', type: 'custom.a', data: {} });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error.code, 'unauthorized');
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
    assert.equal(anonymous.body.error.requestId, anonymous.headers.get('x-request-id'));
  });

  it('refuses expired, foreign, forged, unsigned and claim-less tokens', async () => {
    const url = `${broker.url}/events`;
    const bad = {
      expired: await token({ sub: 'a', tenant: 't', roles: ['reader'] }, { expires: '-10m' }),
      'wrong issuer': await token({ sub: 'a', tenant: 't', roles: ['reader'] }, { issuer: 'https://evil.example' }),
      'wrong audience': await token({ sub: 'a', tenant: 't', roles: ['reader'] }, { audience: 'someone-else' }),
      'bad signature': await token({ sub: 'a', tenant: 't', roles: ['reader'] }, { secret: new TextEncoder().encode('another-secret-another-secret-another') }),
      'alg none': new UnsecuredJWT({ sub: 'a', tenant: 't', roles: ['reader'] })
        .setIssuer('https://auth.example')
        .setAudience('ark-broker')
        .setExpirationTime('5m')
        .encode(),
      'no tenant claim': await token({ sub: 'a', roles: ['reader'] }),
      'no user claim': await token({ tenant: 't', roles: ['reader'] }),
      garbage: 'not.a.jwt',
    };
    for (const [label, jwt] of Object.entries(bad)) {
      const res = await call(url, 'GET', jwt);
      assert.equal(res.status, 401, label);
      assert.equal(res.body.error.code, 'UNAUTHORIZED', label);
    }
  });

  it('scopes everything to the token tenant: another tenant gets 404 or nothing', async () => {
    assert.equal(
      (await call(`${broker.url}/v2/events`, 'POST', alice, { sessionId: 'secret-session', type: 'custom.a', userId: 'alice', data: { pin: 1234 } })).status,
      201,
    );
    assert.equal(
      (
        await call(`${broker.url}/events`, 'POST', alice, {
          reason: 'QueryExecutionStart',
          data: { queryId: 'qa', queryName: 'qa', sessionId: 'secret-session', userId: 'alice' },
        })
      ).status,
      201,
    );
    const own = await call(`${broker.url}/v2/sessions/secret-session/events`, 'GET', alice);
    assert.equal(own.status, 200);
    assert.equal(own.body.items[0].tenantId, 'tenant-a');
    assert.equal((await call(`${broker.url}/v2/sessions/secret-session/events`, 'GET', bob)).status, 404);
    assert.equal((await call(`${broker.url}/sessions/secret-session`, 'GET', bob)).status, 404);
    assert.deepEqual((await call(`${broker.url}/events`, 'GET', bob)).body.items, []);
    assert.deepEqual((await call(`${broker.url}/events/qa`, 'GET', bob)).body.items, []);
    assert.deepEqual((await call(`${broker.url}/sessions`, 'GET', bob)).body, { sessions: {} });
    assert.deepEqual((await call(`${broker.url}/v2/events?after=0:0`, 'GET', bob)).body.items, []);
    // The same session id in tenant B is a different session.
    assert.equal((await call(`${broker.url}/v2/events`, 'POST', bob, { sessionId: 'secret-session', type: 'custom.b', data: {} })).body.items[0].sequence, 1);
  });

  it("shows a reader's session watch the admin's deletions that change its sessions", async () => {
    const carol = await token({ sub: 'carol', tenant: 'tenant-a', roles: ['reader'] });
    const admin = await token({ sub: 'root', tenant: 'tenant-a', roles: ['admin'] });
    for (const queryId of ['q-keep', 'q-drop']) {
      const start = { reason: 'QueryExecutionStart', data: { queryId, queryName: queryId, sessionId: 'carols', userId: 'carol' } };
      assert.equal((await call(`${broker.url}/events`, 'POST', alice, start)).status, 201);
    }
    const watcher = new RecordingEventSource(`${broker.url}/sessions?watch=true&session_id=carols`, { authorization: `Bearer ${carol}` });
    const initial = await watcher.waitFor(1);
    assert.deepEqual(Object.keys(initial.at(-1)!.data.session.queries).sort(), ['q-drop', 'q-keep']);
    assert.equal((await call(`${broker.url}/sessions/queries/q-drop`, 'DELETE', admin)).status, 200);
    const frames = await watcher.waitFor(initial.length + 1);
    watcher.close();
    assert.deepEqual(Object.keys(frames.at(-1)!.data.session.queries), ['q-keep'], 'the removal reaches the owner');
  });

  it('enforces roles: readers read, producers write, admins delete', async () => {
    const reader = await token({ sub: 'r', tenant: 'tenant-a', roles: ['reader'] });
    const producer = await token({ sub: 'p', tenant: 'tenant-a', roles: 'producer' });
    const admin = await token({ sub: 'x', tenant: 'tenant-a', roles: ['admin'] });
    assert.equal((await call(`${broker.url}/v2/events`, 'POST', reader, { sessionId: 's', type: 'custom.a', data: {} })).status, 403);
    assert.equal((await call(`${broker.url}/events`, 'GET', producer)).status, 403);
    assert.equal((await call(`${broker.url}/events`, 'DELETE', alice)).status, 403);
    assert.equal((await call(`${broker.url}/events`, 'DELETE', admin)).status, 200);
    assert.equal((await call(`${broker.url}/events`, 'GET', reader)).status, 200);
  });

  it('accepts API keys made with `ark-broker keys`, bound to their tenant and roles, until revoked', async () => {
    const created = await runCli(['keys', 'create', '--tenant', 'tenant-k', '--name', 'ark-controller', '--roles', 'producer'], {
      DATABASE_URL: broker.database.url,
    });
    assert.equal(created.code, 0, created.stderr);
    const apiKey = /key: (ark_\S+)/.exec(created.stdout)![1]!;
    const id = /id:\s+(\S+)/.exec(created.stdout)![1]!;
    const stored = await broker.sql.query('SELECT * FROM api_keys WHERE id = $1', [id]);
    const secret = apiKey.slice(`ark_${id}_`.length);
    assert.equal(stored.rows[0].secret_hash, createHash('sha256').update(secret).digest('hex'), 'a SHA-256 of the secret is kept');
    assert.ok(!JSON.stringify(stored.rows[0]).includes(secret), 'the secret itself is not stored');
    assert.equal(
      (await call(`${broker.url}/events`, 'POST', apiKey, { reason: 'QueryExecutionStart', data: { queryId: 'qk', sessionId: 'ks', queryName: 'qk' } })).status,
      201,
    );
    assert.equal((await call(`${broker.url}/events`, 'GET', apiKey)).status, 403, 'a producer key cannot read');
    const keyReader = await token({ sub: 'kr', tenant: 'tenant-k', roles: ['admin'] });
    assert.equal((await call(`${broker.url}/events/qk`, 'GET', keyReader)).body.items.length, 1, 'written to the key tenant');
    const listed = await runCli(['keys', 'list', '--tenant', 'tenant-k'], { DATABASE_URL: broker.database.url });
    assert.match(listed.stdout, new RegExp(`${id}\\ttenant-k\\tark-controller\\tproducer`));
    assert.ok(!listed.stdout.includes(apiKey));
    assert.equal((await runCli(['keys', 'revoke', id], { DATABASE_URL: broker.database.url })).code, 0);
    await sleep(1100); // AUTH_CACHE_SECONDS: a revocation counts on every replica within it
    assert.equal((await call(`${broker.url}/events`, 'POST', apiKey, { data: { queryId: 'q2' } })).status, 401);
    assert.equal((await call(`${broker.url}/events`, 'POST', `${apiKey.slice(0, -2)}xx`)).status, 401);
  });

  it('lets a key bound to namespaces write only events of those namespaces', async () => {
    const created = await runCli(['keys', 'create', '--tenant', 'tenant-n', '--name', 'team-a', '--roles', 'producer', '--namespaces', 'team-a,shared'], {
      DATABASE_URL: broker.database.url,
    });
    assert.equal(created.code, 0, created.stderr);
    const apiKey = /key: (ark_\S+)/.exec(created.stdout)![1]!;
    const event = (namespace?: string) => ({
      reason: 'QueryExecutionStart',
      data: { queryId: `q-${namespace}`, ...(namespace ? { queryNamespace: namespace } : {}) },
    });
    assert.equal((await call(`${broker.url}/events`, 'POST', apiKey, event('team-a'))).status, 201);
    assert.equal((await call(`${broker.url}/events`, 'POST', apiKey, event())).status, 201, 'events without a namespace are allowed');
    const refused = await call(`${broker.url}/events`, 'POST', apiKey, event('team-b'));
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'NAMESPACE_FORBIDDEN');
    const batch = await call(`${broker.url}/v2/events`, 'POST', apiKey, [
      { sessionId: 'n', type: 'custom.a', namespace: 'shared', data: {} },
      { sessionId: 'n', type: 'custom.a', namespace: 'other', data: {} },
    ]);
    assert.equal(batch.status, 403, 'one event outside refuses the whole request');
    const entry = (namespace: string) => ({ sessionId: `entry-${namespace}`, queryName: 'q', _reason: 'QueryExecutionStart', queryNamespace: namespace });
    const foreignEntry = await call(`${broker.url}/sessions`, 'POST', apiKey, entry('team-b'));
    assert.equal(foreignEntry.status, 403, 'nor a session entry of another namespace');
    assert.equal(foreignEntry.body.error.code, 'NAMESPACE_FORBIDDEN');
    assert.equal((await call(`${broker.url}/sessions`, 'POST', apiKey, entry('team-a'))).status, 201);
    const stored = await broker.sql.query(`SELECT namespace FROM events WHERE tenant_id = 'tenant-n' ORDER BY global_position`);
    assert.deepEqual(
      stored.rows.map((r) => r.namespace),
      ['team-a', null, 'team-a'],
    );
  });
});

describe('AUTH_MODE=header', () => {
  it('takes identity headers only from trusted proxies', async () => {
    const trusted = await startTestBroker({ AUTH_MODE: 'header', AUTH_TRUSTED_PROXIES: '127.0.0.1/32,::1,::ffff:127.0.0.1' });
    const untrusted = await startTestBroker({ AUTH_MODE: 'header', AUTH_TRUSTED_PROXIES: '10.9.9.9' });
    try {
      const headers = { 'x-ark-tenant': 'proxy-tenant', 'x-ark-user': 'carol', 'x-ark-roles': 'producer,reader', 'content-type': 'application/json' };
      const ok = await fetch(`${trusted.url}/v2/events`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ sessionId: 'h', type: 'custom.a', userId: 'carol', data: {} }),
      });
      assert.equal(ok.status, 201);
      const read = (await (await fetch(`${trusted.url}/v2/sessions/h/events`, { headers })).json()) as any;
      assert.equal(read.items[0].tenantId, 'proxy-tenant');
      assert.equal((await fetch(`${trusted.url}/v2/sessions/h/events`, { headers: { 'x-ark-tenant': 'proxy-tenant' } })).status, 401);
      assert.equal((await fetch(`${untrusted.url}/v2/sessions/h/events`, { headers })).status, 401);
    } finally {
      await trusted.close();
      await untrusted.close();
    }
  });
});

describe('verified-credential cache', () => {
  it('reuses a verified token, but never past its expiry', async () => {
    const settings = {
      mode: 'jwt' as const,
      jwtSecret: SECRET,
      tenantClaim: 'tenant',
      userClaim: 'sub',
      rolesClaim: 'roles',
      clockSkewSeconds: 0,
      headerTenant: 'x-ark-tenant',
      headerUser: 'x-ark-user',
      headerRoles: 'x-ark-roles',
      trustedProxies: [],
      trustedNetworks: [],
      serviceAccounts: [],
      allowNoExp: false,
      cacheSeconds: 60,
    };
    const authenticator = new CallerAuthenticator(settings, new ApiKeys(undefined as never));
    const jwt = await new SignJWT({ sub: 'u', tenant: 't', roles: ['reader'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
      .sign(key);
    const headers = { authorization: `Bearer ${jwt}` };
    assert.equal((await authenticator.authenticate(headers, '127.0.0.1')).tenantId, 't');
    assert.equal((await authenticator.authenticate(headers, '127.0.0.1')).userId, 'u');
    await sleep(2100);
    await assert.rejects(authenticator.authenticate(headers, '127.0.0.1'), (error: Error) => error instanceof AuthError && error.status === 401);
  });
});

/** A small Kubernetes API: TokenReview (authentication.k8s.io/v1) of the tokens it issued, as the API server answers it. */
async function startFakeKubernetes(brokerToken: string, valid: Record<string, string>) {
  const reviews: { authorization?: string; body: any }[] = [];
  const server = http.createServer((request, response) => {
    let text = '';
    request.on('data', (c: Buffer) => (text += c.toString()));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/apis/authentication.k8s.io/v1/tokenreviews') return void response.writeHead(404).end();
      if (request.headers.authorization !== `Bearer ${brokerToken}`) {
        response.writeHead(401, { 'content-type': 'application/json' });
        return void response.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 }));
      }
      const body = JSON.parse(text);
      reviews.push({ authorization: request.headers.authorization, body });
      const username = valid[body.spec.token];
      response.writeHead(201, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          kind: 'TokenReview',
          apiVersion: 'authentication.k8s.io/v1',
          metadata: { creationTimestamp: null },
          spec: body.spec,
          status: username
            ? {
                authenticated: true,
                user: {
                  username,
                  uid: randomUUID(),
                  groups: ['system:serviceaccounts', `system:serviceaccounts:${username.split(':')[2]}`, 'system:authenticated'],
                },
                audiences: ['https://kubernetes.default.svc.cluster.local'],
              }
            : { user: {}, error: '[invalid bearer token, token lookup failed]' },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, reviews, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A ServiceAccount token as kubelet projects it: a JWT the broker cannot verify itself (the cluster's key). */
async function serviceAccountToken(namespace: string, name: string): Promise<string> {
  return new SignJWT({ 'kubernetes.io': { namespace, serviceaccount: { name, uid: randomUUID() } } })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://kubernetes.default.svc.cluster.local')
    .setSubject(`system:serviceaccount:${namespace}:${name}`)
    .setAudience('https://kubernetes.default.svc.cluster.local')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(randomUUID() + randomUUID()));
}

describe("Ark's callers without credentials: trusted networks and ServiceAccount tokens", () => {
  let broker: TestBroker;
  let kubernetes: Awaited<ReturnType<typeof startFakeKubernetes>>;
  let controller: string;
  let stranger: string;
  let forged: string;
  before(async () => {
    controller = await serviceAccountToken('ark-system', 'ark-controller');
    stranger = await serviceAccountToken('other', 'someone');
    forged = await serviceAccountToken('ark-system', 'ark-controller');
    const dir = await mkdtemp(path.join(tmpdir(), 'ark-sa-'));
    await writeFile(path.join(dir, 'token'), 'broker-own-token\n');
    kubernetes = await startFakeKubernetes('broker-own-token', {
      [controller]: 'system:serviceaccount:ark-system:ark-controller',
      [stranger]: 'system:serviceaccount:other:someone',
    });
    broker = await startTestBroker({
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: SECRET,
      AUTH_CACHE_SECONDS: '0',
      AUTH_TRUSTED_NETWORKS: '10.0.0.0/8=ark:producer,admin; 127.0.0.0/8=ark-local:producer,admin',
      AUTH_K8S_SERVICE_ACCOUNTS: 'ark-system/ark-controller=ark:producer; ark-system/*=ark:reader',
      AUTH_K8S_API_URL: kubernetes.url,
      AUTH_K8S_TOKEN_FILE: path.join(dir, 'token'),
      AUTH_K8S_CA_FILE: path.join(dir, 'no-ca.crt'),
    });
  });
  after(async () => {
    await broker.close();
    await kubernetes.close();
  });

  it('lets a caller from a trusted network in as its tenant and roles, with no credentials', async () => {
    const posted = await call(`${broker.url}/v2/events`, 'POST', undefined, { sessionId: 'net', type: 'custom.a', data: {} });
    assert.equal(posted.status, 201);
    const stored = await broker.sql.query(`SELECT tenant_id FROM events WHERE session_id = 'net'`);
    assert.deepEqual(stored.rows, [{ tenant_id: 'ark-local' }]);
    const read = await call(`${broker.url}/v2/sessions/net/events`, 'GET');
    assert.equal(read.status, 200);
    assert.equal(read.body.items.length, 1);
    // A token still wins: the caller is who the token says, not the network.
    const own = await call(`${broker.url}/v2/sessions/net/events`, 'GET', await token({ sub: 'u', tenant: 'else', roles: ['admin'] }));
    assert.equal(own.status, 404);
  });

  it('lets no one in from elsewhere without a token', async () => {
    const outside = await startTestBroker(
      { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET, AUTH_TRUSTED_NETWORKS: '10.0.0.0/8=ark:producer,admin; ::1/128=ark:admin' },
      broker.database,
    );
    try {
      const res = await call(`${outside.url}/v2/events`, 'GET');
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'unauthorized');
    } finally {
      await outside.app.close();
      await outside.sql.end();
    }
  });

  it('verifies ServiceAccount tokens with TokenReview and maps the account (exact name, then namespace/*) to tenant and roles', async () => {
    const posted = await call(`${broker.url}/events`, 'POST', controller, {
      reason: 'QueryExecutionStart',
      data: { queryId: 'sa-q', queryName: 'sa-q', sessionId: 'sa-s' },
    });
    assert.equal(posted.status, 201);
    const review = kubernetes.reviews.at(-1)!;
    assert.equal(review.body.apiVersion, 'authentication.k8s.io/v1');
    assert.equal(review.body.kind, 'TokenReview');
    assert.equal(review.body.spec.token, controller);
    assert.equal((await call(`${broker.url}/events`, 'GET', controller)).status, 403, 'ark-controller is a producer only');
    const stored = await broker.sql.query(`SELECT tenant_id FROM events WHERE query_id = 'sa-q'`);
    assert.deepEqual(stored.rows, [{ tenant_id: 'ark' }]);
    const refused = await call(`${broker.url}/events`, 'GET', stranger);
    assert.equal(refused.status, 401, 'a valid token of an account not let in');
    assert.match(refused.body.error.message, /system:serviceaccount:other:someone/);
    assert.equal((await call(`${broker.url}/events`, 'GET', forged)).status, 401, 'a token the API server did not issue');
  });
});

describe('tokens and purges', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET, ALLOW_PURGE_ALL: 'false', CORS_ORIGINS: 'https://dashboard.example' });
  });
  after(() => broker.close());

  it('answers a CORS preflight from an allowed origin before authentication, and puts the security headers on a 401', async () => {
    const preflight = await fetch(`${broker.url}/v2/events`, {
      method: 'OPTIONS',
      headers: { origin: 'https://dashboard.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://dashboard.example');
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/i);
    const refused = await fetch(`${broker.url}/v2/events`, { headers: { origin: 'https://dashboard.example' } });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(refused.headers.get('access-control-allow-origin'), 'https://dashboard.example', 'the browser may read the 401');
  });

  it('refuses a JWT without exp, and one with a NUL in a claim, with 401', async () => {
    const noExp = await new SignJWT({ sub: 'a', tenant: 't', roles: ['reader'] }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    const res = await call(`${broker.url}/events`, 'GET', noExp);
    assert.equal(res.status, 401);
    assert.match(res.body.error.message, /exp/);
    for (const claims of [
      { sub: 'a\u0000b', tenant: 't' },
      { sub: 'a', tenant: 't\u0000' },
    ]) {
      const nul = await call(`${broker.url}/v2/events`, 'POST', await token({ ...claims, roles: ['producer'] }), {
        sessionId: 's',
        type: 'custom.a',
        data: {},
      });
      assert.equal(nul.status, 401, JSON.stringify(claims));
    }
  });

  it('switches the purge-all DELETEs off (ALLOW_PURGE_ALL=false), even for admins, and leaves the rest', async () => {
    const admin = await token({ sub: 'root', tenant: 'p', roles: ['admin', 'producer'] });
    assert.equal((await call(`${broker.url}/events`, 'POST', admin, { reason: 'QueryExecutionStart', data: { queryId: 'pq', sessionId: 'ps' } })).status, 201);
    for (const route of ['/traces', '/events', '/sessions', '/messages', '/conversations', '/stream']) {
      const res = await call(`${broker.url}${route}`, 'DELETE', admin);
      assert.equal(res.status, 403, route);
      assert.equal(res.body.error.code, 'PURGE_ALL_DISABLED', route);
    }
    assert.equal((await call(`${broker.url}/events/pq`, 'GET', admin)).body.items.length, 1, 'nothing was purged');
    assert.equal((await call(`${broker.url}/events/pq`, 'DELETE', admin)).status, 200, 'a DELETE of one query still works');
    const reader = await token({ sub: 'r', tenant: 'p', roles: ['reader', 'producer'] });
    assert.equal((await call(`${broker.url}/events/pq`, 'DELETE', reader)).status, 403, 'deleting needs admin');
  });
});
