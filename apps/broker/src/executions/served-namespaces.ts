import { NamespaceForbiddenError, NotFoundError } from '#ark/errors';
import type { CallerIdentity } from '#ark/tenancy';
import type { ExecutionRow } from './execution.repository.js';

/**
 * The namespaces an executor serves: its credentials' binding (an API key made with `--namespaces`),
 * narrowed to what it asked for; null: every namespace of the tenant.
 */
export function servedNamespaces(caller: CallerIdentity, asked: readonly string[] | undefined): readonly string[] | null {
  const bound = caller.namespaces;
  if (!asked) return bound ?? null;
  const outside = bound && asked.find((n) => !bound.includes(n));
  if (bound && outside) throw new NamespaceForbiddenError(bound, outside);
  return asked;
}

/** A query of a namespace the caller's credentials are not bound to is answered as one that does not exist. */
export function visibleTo(caller: CallerIdentity, queryId: string, row: ExecutionRow | undefined): ExecutionRow {
  if (!row || (caller.namespaces && !caller.namespaces.includes(row.namespace))) throw new NotFoundError(`query ${queryId} not found`);
  return row;
}
