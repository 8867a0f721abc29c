import { sql, type RawBuilder } from 'kysely';
import type { CallerIdentity } from './caller-identity.js';

/**
 * What a caller may read (docs/architecture.md#tenancy): an admin the whole tenant; anyone else only the sessions whose
 * owner (`sessions.user_id`, the first user a producer asserted for the session) is the caller.
 */
export interface ReadScope {
  tenantId: string;
  /** Set for non-admins: only sessions owned by this user are visible. */
  ownerId?: string;
}

export function readScopeOf(caller: CallerIdentity): ReadScope {
  return caller.roles.includes('admin') ? { tenantId: caller.tenantId } : { tenantId: caller.tenantId, ownerId: caller.userId };
}

/**
 * SQL condition "the session of this row is visible": `true` for admins, else the row's session is
 * owned by the caller. `row` is the alias of a table with `tenant_id` and `session_id` (or pass the
 * session column). The session row commits in the same transaction as the events that create it,
 * so a row is never visible before its owner is.
 */
export function sessionVisible(scope: ReadScope, row: string, sessionColumn = 'session_id'): RawBuilder<unknown> {
  if (scope.ownerId === undefined) return sql`true`;
  return sql`EXISTS (SELECT 1 FROM sessions owner_ WHERE owner_.tenant_id = ${sql.ref(`${row}.tenant_id`)}
    AND owner_.session_id = ${sql.ref(`${row}.${sessionColumn}`)} AND owner_.user_id = ${scope.ownerId})`;
}
