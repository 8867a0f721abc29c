import { useEffect, useRef, useState } from 'preact/hooks';

/** Asks for a bearer token (AUTH_MODE=jwt); it is kept in this tab's sessionStorage only. */
export function TokenDialog({ reason, onSave }: { reason: string; onSave: (token: string) => void }) {
  const [token, setToken] = useState('');
  const input = useRef<HTMLTextAreaElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <section class="panel token" aria-labelledby="token-title">
      <h1 id="token-title">Sign in</h1>
      <p role="alert">{reason} Paste a bearer token; the viewer sends it with every request and keeps it in this tab only.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) onSave(token);
        }}
      >
        <label for="token">Bearer token</label>
        <textarea id="token" ref={input} rows={4} spellcheck={false} autocomplete="off" value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        <button type="submit" class="primary">
          Use this token
        </button>
      </form>
    </section>
  );
}
