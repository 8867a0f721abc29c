import { useContext, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { AuthContext } from './app.js';
import { broker, BrokerError, credentials, follow, messageOf, needsToken, type SessionAggregate, type WatchState } from './api.js';
import { formatTime, formatTokens } from './format.js';
import { LiveBadge } from './live-badge.js';
import { ReplayPanel } from './replay-panel.js';
import { SessionTreeBuilder, type TreeEvent } from './session-tree.js';
import { Timeline } from './timeline.js';
import { TreeView } from './tree-view.js';

type View = 'tree' | 'timeline' | 'events';
const VIEWS: [View, string][] = [
  ['tree', 'Tree'],
  ['timeline', 'Timeline'],
  ['events', 'Events'],
];
/** The aggregate (header figures) is read again at most this often while events arrive. */
const AGGREGATE_REFRESH_MS = 1_000;

/**
 * One session: its events from the first, then live (GET /v2/sessions/:id/events?watch=true; a
 * dropped stream resumes after the last sequence it delivered), folded into the tree; the aggregate
 * (GET /v2/sessions/:id) for the figures.
 */
export function SessionPage({ sessionId }: { sessionId: string }) {
  const { refused } = useContext(AuthContext);
  const builder = useMemo(() => new SessionTreeBuilder(), [sessionId]);
  const events = useRef<TreeEvent[]>([]);
  const [, setVersion] = useState(0);
  const [aggregate, setAggregate] = useState<SessionAggregate | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState<WatchState>('connecting');
  const [view, setView] = useState<View>('tree');
  const [replay, setReplay] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const [aggregateTick, setAggregateTick] = useState(0);

  const fail = (e: unknown) => {
    if (needsToken(e)) refused(e);
    else setError(e instanceof BrokerError && e.status === 404 ? `No session ${sessionId} (or not yours to see).` : messageOf(e));
  };

  useEffect(() => {
    let current = true;
    broker.getSession(sessionId).then((a) => current && setAggregate(a), fail);
    return () => {
      current = false;
    };
  }, [sessionId, aggregateTick]);

  useEffect(() => {
    let frame: number | undefined;
    let aggregateTimer: number | undefined;
    const stream = follow((client, options) => client.watchSessionEvents(sessionId, { ...options, after: 0 }), {
      message: (event) => {
        if (!builder.apply(event)) return;
        events.current.push(event);
        // One render per animation frame however many events arrive.
        frame ??= requestAnimationFrame(() => {
          frame = undefined;
          setVersion((v) => v + 1);
        });
        aggregateTimer ??= window.setTimeout(() => {
          aggregateTimer = undefined;
          setAggregateTick((t) => t + 1);
        }, AGGREGATE_REFRESH_MS);
      },
      state: setLive,
      failed: fail,
    });
    return () => {
      stream.close();
      if (frame !== undefined) cancelAnimationFrame(frame);
      window.clearTimeout(aggregateTimer);
    };
  }, [sessionId, builder]);

  const tree = builder.snapshot();
  const session = aggregate?.session;
  const copy = async () => {
    await navigator.clipboard.writeText(JSON.stringify({ aggregate, events: events.current }, null, 2));
    setCopied(true);
    setTimeout(() => setCopied(false), 2_000);
  };

  const rawEvents = broker.url(`/v2/sessions/${encodeURIComponent(sessionId)}/events`, { limit: '1000' });
  // A plain link carries no bearer token: with one, fetch the page and open it as a document.
  const openRawEvents = (e: MouseEvent) => {
    if (!credentials.token()) return;
    e.preventDefault();
    const opened = window.open('', '_blank');
    broker.listSessionEvents(sessionId, { limit: 1000 }).then((page) => {
      if (opened) opened.location.href = URL.createObjectURL(new Blob([JSON.stringify(page, null, 2)], { type: 'application/json' }));
    }, fail);
  };

  return (
    <section aria-labelledby="session-title" class="session">
      <p>
        <a href="#/">← Sessions</a>
      </p>
      <div class="title-row">
        <h1 id="session-title">{sessionId}</h1>
        <LiveBadge state={live} />
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {session && (
        <dl class="figures">
          <div>
            <dt>Status</dt>
            <dd>
              <span class={`status status-${session.status}`}>{session.status}</span>
            </dd>
          </div>
          <div>
            <dt>User</dt>
            <dd>{session.userId ?? '–'}</dd>
          </div>
          <div>
            <dt>Queries</dt>
            <dd>
              {session.queryCount}
              {session.errorQueryCount > 0 ? ` (${session.errorQueryCount} failed)` : ''}
            </dd>
          </div>
          <div>
            <dt>Events</dt>
            <dd data-testid="event-count">{tree.events}</dd>
          </div>
          <div>
            <dt>Tokens</dt>
            <dd data-testid="session-tokens">{formatTokens(session.tokens)}</dd>
          </div>
          <div>
            <dt>Messages</dt>
            <dd>{aggregate.messages.count}</dd>
          </div>
          <div>
            <dt>Pending approvals</dt>
            <dd>{aggregate.pendingApprovals.total}</dd>
          </div>
          <div>
            <dt>Active</dt>
            <dd>
              {formatTime(session.firstActivityAt)} – {formatTime(session.lastActivityAt)}
            </dd>
          </div>
        </dl>
      )}
      <div class="toolbar">
        <div role="tablist" aria-label="Views">
          {VIEWS.map(([id, label]) => (
            <button key={id} type="button" role="tab" id={`tab-${id}`} aria-selected={view === id} aria-controls="view" onClick={() => setView(id)}>
              {label}
            </button>
          ))}
        </div>
        <button type="button" onClick={() => void copy()}>
          {copied ? 'Copied' : 'Copy as JSON'}
        </button>
        <a href={rawEvents} target="_blank" rel="noopener" onClick={openRawEvents}>
          Raw events
        </a>
      </div>
      {replay && <ReplayPanel queryRef={replay} onClose={() => setReplay(null)} />}
      <div id="view" role="tabpanel" aria-labelledby={`tab-${view}`}>
        {view === 'tree' && (tree.roots.length ? <TreeView roots={tree.roots} onReplay={setReplay} /> : <p class="muted">No events yet.</p>)}
        {view === 'timeline' && <Timeline roots={tree.roots} />}
        {view === 'events' && <EventsTable events={events.current} />}
      </div>
    </section>
  );
}

function EventsTable({ events }: { events: TreeEvent[] }) {
  return (
    <table class="events">
      <caption class="sr-only">The session's events in sequence order</caption>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">Time</th>
          <th scope="col">Type</th>
          <th scope="col">Query</th>
          <th scope="col">Source</th>
          <th scope="col">Data</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.sequence}>
            <td class="num">{e.sequence}</td>
            <td>{formatTime(e.time)}</td>
            <td>{e.type}</td>
            <td>{e.queryName ?? e.queryId ?? ''}</td>
            <td>{e.source}</td>
            <td>
              <code class="data">{JSON.stringify(e.data).slice(0, 160)}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
