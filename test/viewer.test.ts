/**
 * The viewer (/ui) in a real browser: headless Chromium driven by playwright-core, against a broker
 * with AUTH_MODE=jwt whose Ark producers come from a trusted network (as Ark's controller and
 * executor do). A reader signs in with a token, watches their session's list row appear and its tree
 * grow while a simulated Ark query runs (operation events, chunks one by one, OTLP spans), sees the
 * streamed tokens in order, the tool call complete with its result, the query finish; replays it;
 * and cannot see another user's session. Screenshots go to test-output/ (CI artefacts).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ArkQueryProducer, arkQueryPlan, type ArkOperationEvent } from './support/ark-producer.js';
import { chromiumExecutable } from './support/chromium.js';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const SECRET = 'viewer-test-secret-that-is-long-enough-for-hs256';
const TENANT = 'acme';
const SCREENSHOTS = path.resolve('test-output');

async function readerToken(user: string): Promise<string> {
  return new SignJWT({ sub: user, tenant: TENANT, roles: ['reader'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
}

/** What the app that opened the session for a user would send first: the session's owner. */
async function openSession(broker: TestBroker, sessionId: string, userId: string): Promise<void> {
  const res = await postJson(`${broker.url}/v2/events`, { sessionId, userId, type: 'session.opened', data: { by: 'viewer-test' } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

async function postOperationEvent(broker: TestBroker, body: ArkOperationEvent): Promise<void> {
  const res = await postJson(`${broker.url}/events`, body);
  assert.equal(res.status, 201, `${body.reason}: ${JSON.stringify(res.body)}`);
}

/** One chunk line per `POST /stream/<query>` (Ark may also keep one upload open). */
async function postChunk(broker: TestBroker, query: string, chunk: unknown): Promise<void> {
  const res = await fetch(`${broker.url}/stream/${encodeURIComponent(query)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: `${JSON.stringify(chunk)}\n`,
  });
  assert.equal(res.status, 200, await res.text());
}

const node = (page: Page, kind: string, label?: string) => page.locator(`li[data-kind="${kind}"]${label ? `[data-label="${label}"]` : ''}`).first();

describe('viewer (/ui) in Chromium', () => {
  let broker: TestBroker;
  let browser: Browser;
  let page: Page;

  before(async () => {
    const executablePath = chromiumExecutable();
    mkdirSync(SCREENSHOTS, { recursive: true });
    broker = await startTestBroker({
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: SECRET,
      AUTH_TRUSTED_NETWORKS: `127.0.0.1/32=${TENANT}:producer; ::1/128=${TENANT}:producer`,
      SSE_RETRY_MS: '300',
    });
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1366, height: 820 } });
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    await browser?.close();
    await broker?.close();
  });

  it('shows a reader their live session growing as an Ark query runs, and nothing of another user', async () => {
    const alice = new ArkQueryProducer(broker.url, arkQueryPlan('viewer-alice', { startedAt: Date.now() }));
    const bob = new ArkQueryProducer(broker.url, arkQueryPlan('viewer-bob'));
    await openSession(broker, bob.sessionId, 'bob');
    await bob.asArkDelivers();
    await openSession(broker, alice.sessionId, 'alice');

    // `/` leads to the viewer, which asks for a token: without one the caller is only the producers' network.
    await page.goto(`${broker.url}/`);
    assert.match(page.url(), /\/ui\/$/);
    await page.getByLabel('Bearer token').fill(await readerToken('alice'));
    await page.getByRole('button', { name: 'Use this token' }).click();
    const aliceRow = page.locator(`tr[data-session="${alice.sessionId}"]`);
    await aliceRow.waitFor();
    assert.equal(await page.locator(`tr[data-session="${bob.sessionId}"]`).count(), 0, "bob's session is not listed for alice");
    await page.locator('.title-row .live-live').waitFor();

    // The query starts: the list row turns active without a reload (the feed watch).
    const ops = alice.operationEventBodies();
    const op = (reason: string, nth = 0) => ops.filter((b) => b.reason === reason)[nth]!;
    for (const reason of ['QueryExecutionStart', 'MemoryGetMessagesStart', 'MemoryGetMessagesComplete', 'AgentExecutionStart'])
      await postOperationEvent(broker, op(reason));
    await postOperationEvent(broker, op('LLMCallStart'));
    await aliceRow.locator('.status-active').waitFor();
    await aliceRow.getByText('weather-agent').waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'viewer-sessions.png') });

    // The session page: the tree so far.
    await aliceRow.getByRole('link').click();
    await page.locator('#session-title').getByText(alice.sessionId).waitFor();
    await node(page, 'query', alice.plan.name).locator('.status-running').first().waitFor();
    await node(page, 'agent', 'weather-agent').waitFor();
    await node(page, 'llm', 'gpt-4o').waitFor();

    // The first LLM call streams a tool call, then the tool runs.
    const chunks = alice.chunkLines();
    const words = alice.plan.response.split(/(?<= )/);
    const secondStart = chunks.findIndex((c) => (c.choices as { delta: { role?: string; content?: string } }[])[0]?.delta.content === '');
    for (const chunk of chunks.slice(0, secondStart)) await postChunk(broker, alice.plan.name, chunk);
    await page.locator('.stream-tool-call', { hasText: `get-weather(${alice.plan.toolCall.arguments})` }).waitFor();
    await postOperationEvent(broker, op('LLMCallComplete'));
    // The tool needs a human's approval first: pending until the answer comes.
    const ark = { query: alice.plan.uid, session: alice.sessionId };
    const toolCalls = [{ id: alice.plan.toolCall.id, type: 'function', function: { name: 'get-weather', arguments: alice.plan.toolCall.arguments } }];
    await postChunk(broker, alice.plan.name, { type: 'tool_approval_request', taskId: 'approve-weather', toolCalls, ark });
    const approval = node(page, 'approval');
    await approval.locator('summary .status-pending').waitFor();
    await page.locator('.figures div', { hasText: 'Pending approvals' }).locator('dd', { hasText: /^1$/ }).waitFor();
    await postChunk(broker, alice.plan.name, { type: 'tool_approval_response', taskId: 'approve-weather', approved: true, ark });
    await approval.locator('summary .status-done', { hasText: 'done' }).waitFor();
    await approval.getByText('approve').first().waitFor();
    await postOperationEvent(broker, op('ToolCallStart'));
    const tool = node(page, 'tool', 'get-weather');
    await tool.locator('summary .status-running').waitFor();
    await tool.locator('.field-parameters', { hasText: '"city": "Paris"' }).waitFor();
    await postOperationEvent(broker, op('ToolCallComplete'));
    await tool.locator('summary .status-done').waitFor();

    // The stream drops (the server cuts every connection): all that follows reaches the page only
    // through the resumed stream (Last-Event-ID), and the event count below proves none is lost or repeated.
    broker.app.getHttpServer().closeAllConnections();

    // The answer streams word by word into the second LLM call, in order.
    await postOperationEvent(broker, op('LLMCallStart', 1));
    await postChunk(broker, alice.plan.name, chunks[secondStart]);
    const answer = page.locator('li[data-kind="llm"] .stream-text');
    for (let i = 0; i < words.length; i++) {
      await postChunk(broker, alice.plan.name, chunks[secondStart + 1 + i]);
      const expected = words.slice(0, i + 1).join('');
      await page.waitForFunction(
        `[...document.querySelectorAll('li[data-kind="llm"] .stream-text')].some((e) => e.textContent === ${JSON.stringify(expected)})`,
      );
      if (i === Math.floor(words.length / 2)) await page.screenshot({ path: path.join(SCREENSHOTS, 'viewer-session-streaming.png'), fullPage: true });
    }
    assert.equal(await answer.last().textContent(), alice.plan.response);

    // The rest of the run: usage and final chunks, the stream's end, the executor's spans, the controller's completion.
    for (const chunk of chunks.slice(secondStart + 1 + words.length)) await postChunk(broker, alice.plan.name, chunk);
    assert.equal((await postJson(`${broker.url}/stream/${encodeURIComponent(alice.plan.name)}/complete`, {})).status, 200);
    for (const reason of ['AgentExecutionComplete', 'MemoryAddMessagesStart', 'MemoryAddMessagesComplete']) await postOperationEvent(broker, op(reason));
    await postOperationEvent(broker, op('LLMCallComplete', 1));
    await alice.messages();
    await alice.spans('executor');
    await tool.locator('.field-result', { hasText: alice.plan.toolCall.result }).waitFor();
    await postOperationEvent(broker, op('QueryExecutionComplete'));
    await alice.spans('controller');

    const query = node(page, 'query', alice.plan.name);
    await query.locator(':scope > details > summary .status-done').waitFor();
    // Token counts of the LLM calls (from their spans) and of the session.
    await page.locator('li[data-kind="llm"] [data-testid="tokens"]', { hasText: '180 in / 30 out' }).waitFor();
    await page.locator('.figures .status-idle').waitFor();
    await page.locator('[data-testid="session-tokens"]', { hasText: '300 in / 50 out (350)' }).waitFor();
    await page.locator('li[data-kind="message"]').first().waitFor();
    // Every event exactly once, the dropped connection notwithstanding: the count is the last sequence.
    const session = await fetch(`${broker.url}/v2/sessions/${alice.sessionId}`, { headers: { authorization: `Bearer ${await readerToken('alice')}` } });
    const lastSequence = String(((await session.json()) as { session: { lastSequence: number } }).session.lastSequence);
    await page.locator('[data-testid="event-count"]', { hasText: new RegExp(`^${lastSequence}$`) }).waitFor();
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'viewer-session.png'), fullPage: true });

    // The timeline shows the steps; the replay streams the answer again, paced as recorded.
    await page.getByRole('tab', { name: 'Timeline' }).click();
    await page.locator('table.timeline tbody tr').nth(3).waitFor();
    await page.getByRole('tab', { name: 'Tree' }).click();
    await query.getByRole('button', { name: 'Replay at original pace' }).click();
    await page.locator('[data-testid="replay-text"]', { hasText: alice.plan.response }).waitFor({ timeout: 30_000 });

    // Copy-as-JSON puts the aggregate and the events on the clipboard; "Raw events" opens the API's page with the token.
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: broker.url });
    await page.getByRole('button', { name: 'Copy as JSON' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    const copied = JSON.parse(await page.evaluate('navigator.clipboard.readText()'));
    assert.equal(copied.aggregate.session.sessionId, alice.sessionId);
    assert.equal(copied.events.length, Number(lastSequence));
    const [raw] = await Promise.all([page.waitForEvent('popup'), page.getByRole('link', { name: 'Raw events' }).click()]);
    await raw.waitForURL(/^blob:/);
    const rawPage = JSON.parse((await raw.textContent('body')) ?? '');
    assert.equal(rawPage.items[0].sessionId, alice.sessionId);
    await raw.close();

    // Another user's session is not found for alice, whether listed or asked for by id.
    await page.goto(`${broker.url}/ui/#/sessions/${encodeURIComponent(bob.sessionId)}`);
    await page.getByRole('alert').getByText('not yours to see').waitFor();
    assert.equal(await page.locator('li[data-kind]').count(), 0);
  });
});

describe('viewer (/ui) behind an auth proxy (AUTH_MODE=header)', () => {
  let broker: TestBroker;
  let browser: Browser;

  before(async () => {
    const executablePath = chromiumExecutable();
    broker = await startTestBroker({
      AUTH_MODE: 'header',
      AUTH_TRUSTED_PROXIES: '127.0.0.1,::1',
      AUTH_TRUSTED_NETWORKS: `127.0.0.1/32=${TENANT}:producer; ::1/128=${TENANT}:producer`,
    });
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  });

  after(async () => {
    await browser?.close();
    await broker?.close();
  });

  it("uses the proxy's identity: no token asked, only the user's own sessions, paged and filtered", async () => {
    await openSession(broker, 'session-dave', 'dave');
    // 30 sessions of carol's, one a second apart in producer time: 25 on the first page, 5 older on the next.
    const start = Date.now() - 60_000;
    const events = Array.from({ length: 30 }, (_, i) => ({
      sessionId: `carol-${String(i).padStart(2, '0')}`,
      userId: 'carol',
      type: 'session.opened',
      time: new Date(start + i * 1000).toISOString(),
      data: {},
    }));
    assert.equal((await postJson(`${broker.url}/v2/events`, events)).status, 201);
    // The headers the auth proxy adds to every request of the signed-in user.
    const context = await browser.newContext({ extraHTTPHeaders: { 'x-ark-tenant': TENANT, 'x-ark-user': 'carol', 'x-ark-roles': 'reader' } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${broker.url}/ui/`);
    const rows = page.locator('table.sessions tbody tr');
    await page.locator('tr[data-session="carol-29"]').waitFor();
    assert.equal(await rows.count(), 25);
    assert.equal(await page.locator('tr[data-session="session-dave"]').count(), 0);
    assert.equal(await page.getByLabel('Bearer token').count(), 0);

    // Keyset pages: older, then back.
    await page.getByRole('button', { name: 'Older →' }).click();
    await page.locator('tr[data-session="carol-04"]').waitFor();
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-session'))), [
      'carol-04',
      'carol-03',
      'carol-02',
      'carol-01',
      'carol-00',
    ]);
    assert.equal(await page.getByRole('button', { name: 'Older →' }).isDisabled(), true);
    await page.getByRole('button', { name: '← Newer' }).click();
    await page.locator('tr[data-session="carol-29"]').waitFor();

    // A text filter.
    await page.getByLabel('Search').fill('carol-1');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('tr[data-session="carol-29"]').waitFor({ state: 'detached' });
    assert.equal(await rows.count(), 10);

    // Live: a new matching session of carol's appears without a reload.
    await page.locator('.title-row .live-live').waitFor();
    await openSession(broker, 'carol-1-new', 'carol');
    await page.locator('tr[data-session="carol-1-new"]').waitFor();
    await context.close();
  });
});
