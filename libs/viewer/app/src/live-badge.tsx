import type { WatchState } from './api.js';

const TEXT: Record<WatchState, string> = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', closed: 'not live' };

/** Whether the page's watch stream is connected (announced to screen readers when it changes). */
export function LiveBadge({ state }: { state: WatchState }) {
  return (
    <span class={`live live-${state}`} role="status" aria-live="polite">
      {TEXT[state]}
    </span>
  );
}
