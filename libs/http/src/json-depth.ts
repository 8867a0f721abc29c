/**
 * Deepest nesting of arrays and objects a JSON body or NDJSON line may have. Real payloads (OTLP,
 * Ark's events and chunks) stay under 20 levels; far deeper input overflows the stack of the DTO
 * transformer and PostgreSQL's `jsonb` input ("stack depth limit exceeded").
 */
export const MAX_JSON_DEPTH = 1_000;

/** Whether a parsed JSON value nests deeper than `max` (iterative: the check itself cannot overflow). */
export function jsonNestsDeeperThan(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
