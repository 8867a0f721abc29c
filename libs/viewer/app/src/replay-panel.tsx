import { useEffect, useState } from 'preact/hooks';
import { watch, type WatchState } from './api.js';
import { LiveBadge } from './live-badge.js';

/**
 * A finished query replayed at its original pace: GET /v2/queries/:id/completion?replay=realtime,
 * the broker pacing the recorded chunks and events by their times.
 */
export function ReplayPanel({ queryRef, onClose }: { queryRef: string; onClose: () => void }) {
  const [text, setText] = useState('');
  const [steps, setSteps] = useState<string[]>([]);
  const [state, setState] = useState<WatchState>('connecting');
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const stream = watch(
      `/v2/queries/${encodeURIComponent(queryRef)}/completion`,
      { replay: 'realtime' },
      {
        message: (data) => {
          if (data === '[DONE]') {
            setDone(true);
            stream.close();
            return;
          }
          const message = JSON.parse(data) as { type?: string; event?: { type: string }; choices?: { delta?: { content?: unknown } }[] };
          if (message.type === 'event' && message.event) {
            const type = message.event.type;
            setSteps((s) => [...s, type]);
            return;
          }
          const content = message.choices?.map((c) => (typeof c.delta?.content === 'string' ? c.delta.content : '')).join('') ?? '';
          if (content) setText((t) => t + content);
        },
        state: setState,
        failed: (e) => setError(e.message),
      },
    );
    return () => stream.close();
  }, [queryRef]);

  return (
    <section class="panel replay-panel" aria-labelledby="replay-title">
      <div class="title-row">
        <h2 id="replay-title">Replay of {queryRef}</h2>
        {done ? <span class="live">finished</span> : <LiveBadge state={state} />}
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <pre class="stream-text" data-testid="replay-text">
        {text}
      </pre>
      <ol class="replay-steps">
        {steps.map((s, i) => (
          <li key={i}>{s}</li>
        ))}
      </ol>
    </section>
  );
}
