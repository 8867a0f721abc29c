import { formatDuration } from './format.js';
import type { TreeNode } from './session-tree.js';

interface Row {
  node: TreeNode;
  depth: number;
  start: number;
  end: number;
}

/** Every timed step of the tree as a bar on one time axis (running work extends to now); messages are not steps. */
export function Timeline({ roots }: { roots: TreeNode[] }) {
  const now = Date.now();
  const rows: Row[] = [];
  const visit = (node: TreeNode, depth: number) => {
    if (node.startedAt && node.kind !== 'message') {
      const start = Date.parse(node.startedAt);
      const end = node.endedAt ? Date.parse(node.endedAt) : node.status === 'running' || node.status === 'pending' ? now : start;
      rows.push({ node, depth, start, end: Math.max(end, start) });
    }
    for (const child of node.children) visit(child, depth + 1);
  };
  for (const root of roots) visit(root, 0);
  if (rows.length === 0) return <p class="muted">Nothing timed yet.</p>;
  const first = Math.min(...rows.map((r) => r.start));
  const span = Math.max(1, Math.max(...rows.map((r) => r.end)) - first);
  return (
    <table class="timeline">
      <caption class="sr-only">When each step ran, relative to the session's first</caption>
      <thead>
        <tr>
          <th scope="col">Step</th>
          <th scope="col">Start</th>
          <th scope="col">Duration</th>
          <th scope="col" class="bar-col">
            0 – {formatDuration(span)}
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.node.key}>
            <th scope="row" style={{ paddingLeft: `${0.5 + r.depth}rem` }}>
              {r.node.kind} {r.node.label}
            </th>
            <td class="num">+{formatDuration(r.start - first)}</td>
            <td class="num">{formatDuration(r.end - r.start)}</td>
            <td class="bar-col">
              <div
                class={`bar status-${r.node.status}`}
                style={{ marginLeft: `${((r.start - first) / span) * 100}%`, width: `${Math.max(0.5, ((r.end - r.start) / span) * 100)}%` }}
              />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
