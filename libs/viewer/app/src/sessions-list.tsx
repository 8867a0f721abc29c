import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import { AuthContext } from './app.js';
import { broker, follow, messageOf, needsToken, type Session, type WatchState } from './api.js';
import { formatTime } from './format.js';
import { LiveBadge } from './live-badge.js';

interface Filters {
  status: string;
  namespace: string;
  agent: string;
  userId: string;
  search: string;
  from: string;
  to: string;
}

const NO_FILTERS: Filters = { status: '', namespace: '', agent: '', userId: '', search: '', from: '', to: '' };
const PAGE_SIZE = 25;
/** The list is read again at most this often while the feed reports activity. */
const REFRESH_MS = 500;

/** `datetime-local` (local time, no zone) → ISO 8601 for the API. */
const isoOf = (local: string) => (local ? new Date(local).toISOString() : undefined);

/** GET /v2/sessions with filters and keyset pages, read again whenever the caller's event feed moves. */
export function SessionsList() {
  const { refused } = useContext(AuthContext);
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  // Cursors of the pages before the current one (keyset paging has no page numbers).
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<{ items: Session[]; nextCursor?: string | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState<WatchState>('connecting');
  const [tick, setTick] = useState(0);
  const cursor = cursors.at(-1);

  useEffect(() => {
    let current = true;
    broker
      .listSessions({
        limit: PAGE_SIZE,
        cursor,
        status: (filters.status || undefined) as Session['status'] | undefined,
        namespace: filters.namespace || undefined,
        agent: filters.agent || undefined,
        userId: filters.userId || undefined,
        search: filters.search || undefined,
        from: isoOf(filters.from),
        to: isoOf(filters.to),
      })
      .then(
        (answer) => {
          if (!current) return;
          setPage(answer);
          setError(null);
        },
        (e: unknown) => {
          if (!current) return;
          if (needsToken(e)) refused(e);
          else setError(messageOf(e));
        },
      );
    return () => {
      current = false;
    };
  }, [filters, cursor, tick, refused]);

  // Any event the caller may see can change the list: read the page again (throttled).
  const pending = useRef<number | undefined>(undefined);
  useEffect(() => {
    const feed = follow((client, options) => client.watchFeed(options), {
      message: () => {
        pending.current ??= window.setTimeout(() => {
          pending.current = undefined;
          setTick((t) => t + 1);
        }, REFRESH_MS);
      },
      state: setLive,
      failed: (e) => (needsToken(e) ? refused(e) : setError(messageOf(e))),
    });
    return () => {
      feed.close();
      window.clearTimeout(pending.current);
    };
  }, [refused]);

  const field = (name: keyof Filters, label: string, time = false) => {
    const onInput = (e: { currentTarget: HTMLInputElement }) => setDraft({ ...draft, [name]: e.currentTarget.value });
    return (
      <label>
        {label}
        {time ? (
          <input type="datetime-local" name={name} value={draft[name]} onInput={onInput} />
        ) : (
          <input type="text" name={name} value={draft[name]} onInput={onInput} />
        )}
      </label>
    );
  };

  return (
    <section aria-labelledby="sessions-title">
      <div class="title-row">
        <h1 id="sessions-title">Sessions</h1>
        <LiveBadge state={live} />
      </div>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
          setCursors([undefined]);
        }}
      >
        <label>
          Status
          <select name="status" value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.currentTarget.value })}>
            <option value="">any</option>
            <option value="active">active</option>
            <option value="idle">idle</option>
            <option value="error">error</option>
          </select>
        </label>
        {field('search', 'Search')}
        {field('namespace', 'Namespace')}
        {field('agent', 'Agent')}
        {field('userId', 'User')}
        {field('from', 'From', true)}
        {field('to', 'To', true)}
        <button type="submit" class="primary">
          Apply
        </button>
        <button
          type="button"
          onClick={() => {
            setDraft(NO_FILTERS);
            setFilters(NO_FILTERS);
            setCursors([undefined]);
          }}
        >
          Clear
        </button>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {page && (
        <>
          <table class="sessions">
            <caption class="sr-only">Sessions, most recent activity first</caption>
            <thead>
              <tr>
                <th scope="col">Session</th>
                <th scope="col">Status</th>
                <th scope="col">Queries</th>
                <th scope="col">Events</th>
                <th scope="col">Participants</th>
                <th scope="col">Tokens (in / out / total)</th>
                <th scope="col">Last activity</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((s) => (
                <tr key={s.sessionId} data-session={s.sessionId}>
                  <td>
                    <a href={`#/sessions/${encodeURIComponent(s.sessionId)}`}>{s.sessionId}</a>
                  </td>
                  <td>
                    <span class={`status status-${s.status}`}>{s.status}</span>
                  </td>
                  <td>
                    {s.queryCount}
                    {s.errorQueryCount > 0 && <span class="errors"> ({s.errorQueryCount} failed)</span>}
                  </td>
                  <td>{s.eventCount}</td>
                  <td class="participants">
                    {s.userId && (
                      <span>
                        <span class="muted">user</span> {s.userId}
                      </span>
                    )}
                    {[...s.agents, ...s.teams].map((a) => (
                      <span key={a} class="chip" title="agent or team">
                        {a}
                      </span>
                    ))}
                    {s.models.map((m) => (
                      <span key={m} class="chip model" title="model">
                        {m}
                      </span>
                    ))}
                    {s.namespaces.length > 0 && <span class="muted"> in {s.namespaces.join(', ')}</span>}
                  </td>
                  <td class="num">
                    {s.tokens.input ?? 0} / {s.tokens.output ?? 0} / {s.tokens.total ?? 0}
                  </td>
                  <td>
                    <time dateTime={s.lastActivityAt}>{formatTime(s.lastActivityAt)}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {page.items.length === 0 && <p class="muted">No sessions match.</p>}
          <nav class="pager" aria-label="Pages">
            <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
              ← Newer
            </button>
            <button type="button" disabled={!page.nextCursor} onClick={() => setCursors([...cursors, page.nextCursor ?? undefined])}>
              Older →
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
