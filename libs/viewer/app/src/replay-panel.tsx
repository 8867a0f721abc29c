import { useEffect, useState } from 'preact/hooks';
import { follow, messageOf, type CompletionMessage, type WatchState } from './api.js';
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
    // The client ends the iteration at the stream's `[DONE]`.
    const stream = follow<CompletionMessage>((client, options) => client.completion(queryRef, { replay: 'realtime' }, options), {
      message: (message) => {
        if (message.type === 'event') {
          const type = message.event.type;
          setSteps((s) => [...s, type]);
          return;
        }
        const choices = (message.choices ?? []) as { delta?: { content?: unknown } }[];
        const content = choices.map((c) => (typeof c.delta?.content === 'string' ? c.delta.content : '')).join('');
        if (content) setText((t) => t + content);
      },
      state: setState,
      ended: () => setDone(true),
      failed: (e) => setError(messageOf(e)),
    });
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
