import { createContext } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { credentials, needsToken, messageOf } from './api.js';
import { SessionPage } from './session-page.js';
import { SessionsList } from './sessions-list.js';
import { TokenDialog } from './token-dialog.js';

/** Called by a view whose request the broker refused for want of credentials. */
export const AuthContext = createContext<{ refused: (error: unknown) => void; generation: number }>({ refused: () => undefined, generation: 0 });

/** The token form opened by the user rather than by a refusal. */
const SIGN_IN = 'Sign in to call the broker as your user.';

type Route = { page: 'sessions' } | { page: 'session'; sessionId: string };

/** Hash routes (`#/`, `#/sessions/<id>`): the static server needs no fallback page. */
function routeOf(hash: string): Route {
  const match = /^#\/sessions\/(.+)$/.exec(hash);
  return match ? { page: 'session', sessionId: decodeURIComponent(match[1]!) } : { page: 'sessions' };
}

export function App() {
  const [route, setRoute] = useState(() => routeOf(location.hash));
  const [refusal, setRefusal] = useState<string | null>(null);
  // Bumped when the token changes, so views fetch again with it.
  const [generation, setGeneration] = useState(0);
  const [hasToken, setHasToken] = useState(() => credentials.token() !== null);

  useEffect(() => {
    const onHash = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    document.title = route.page === 'session' ? `${route.sessionId} · Ark Broker` : 'Sessions · Ark Broker';
  }, [route]);

  const refused = useCallback((error: unknown) => setRefusal(needsToken(error) ? `The broker answered ${messageOf(error)}.` : messageOf(error)), []);
  const saveToken = (token: string) => {
    credentials.set(token);
    setHasToken(true);
    setRefusal(null);
    setGeneration((g) => g + 1);
  };
  const signOut = () => {
    credentials.clear();
    setHasToken(false);
    setGeneration((g) => g + 1);
  };

  return (
    <AuthContext.Provider value={{ refused, generation }}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          Ark Broker
        </a>
        <nav aria-label="Main">
          <a href="#/" aria-current={route.page === 'sessions' ? 'page' : undefined}>
            Sessions
          </a>
          <a href="/api-docs">API</a>
        </nav>
        <div class="who">
          {hasToken ? (
            <button type="button" onClick={signOut}>
              Forget token
            </button>
          ) : (
            <button type="button" onClick={() => setRefusal(SIGN_IN)}>
              Use a token
            </button>
          )}
        </div>
      </header>
      <main id="main">
        {refusal ? (
          <TokenDialog reason={refusal} onSave={saveToken} />
        ) : route.page === 'session' ? (
          <SessionPage key={`${route.sessionId}:${generation}`} sessionId={route.sessionId} />
        ) : (
          <SessionsList key={generation} />
        )}
      </main>
    </AuthContext.Provider>
  );
}
