import { AsyncLocalStorage } from 'node:async_hooks';
import { CompiledQuery, PostgresDialect, type DatabaseConnection, type Driver, type QueryResult, type TransactionSettings } from 'kysely';
import pg from 'pg';
import { sql, type RawBuilder } from 'kysely';

/**
 * The tenants the current work may touch, for PostgreSQL row-level security (migrations/0030): every
 * tenant table only shows and accepts rows whose `tenant_id` is in the statement's `ark.tenant_ids`.
 * A request runs in its caller's tenant; the group-commit writer in the tenants of its batch; code that
 * runs outside any scope sees no tenant rows at all (fail closed).
 */
const scope = new AsyncLocalStorage<readonly string[]>();

export const tenantScope = {
  /** Runs `work` (and everything it starts) with these tenants visible. */
  run<T>(tenantIds: readonly string[], work: () => T): T {
    return scope.run(tenantIds, work);
  },
  current(): readonly string[] | undefined {
    return scope.getStore();
  },
};

/**
 * What a caller may read, and the one scope object every repository takes: a tenant and, for
 * non-admins, the owner whose sessions alone are visible (`sessions.user_id`, the first user a
 * producer asserted for the session). Without `ownerId` the scope is the whole tenant, which is also
 * what commands use for their own lookups.
 */
export interface ReadScope {
  readonly tenantId: string;
  /** Set for non-admins: only sessions owned by this user are visible. */
  readonly ownerId?: string;
}

/** Runs `work` (and what it starts) in the scope's tenant: repositories enter it themselves. */
export function inScope<T>(scope: ReadScope, work: () => T): T {
  return tenantScope.run([scope.tenantId], work);
}

/**
 * SQL condition "the session of this row is visible", for rows that expire on their own (events,
 * messages: a session never expires before its rows, SessionsProjector): `true` for the whole
 * tenant, else the row's session is owned by the scope's owner and unexpired. `row` is the alias of
 * a table with `tenant_id` and `session_id` (or pass the session column). The session row commits in
 * the same transaction as the events that create it, so a row is never visible before its owner is.
 */
export function sessionVisible(scope: ReadScope, row: string, sessionColumn = 'session_id'): RawBuilder<unknown> {
  if (scope.ownerId === undefined) return sql`true`;
  return sql`EXISTS (SELECT 1 FROM sessions owner_ WHERE owner_.tenant_id = ${sql.ref(`${row}.tenant_id`)}
    AND owner_.session_id = ${sql.ref(`${row}.${sessionColumn}`)} AND owner_.user_id = ${scope.ownerId} AND owner_.expires_at > now())`;
}

/**
 * The same for read-model rows with no expiry of their own (queries, tool calls): for the whole
 * tenant, the row's session has not expired (a row with no session row passes); else as sessionVisible.
 */
export function sessionLive(scope: ReadScope, row: string, sessionColumn = 'session_id'): RawBuilder<unknown> {
  if (scope.ownerId !== undefined) return sessionVisible(scope, row, sessionColumn);
  return sql`NOT EXISTS (SELECT 1 FROM sessions gone_ WHERE gone_.tenant_id = ${sql.ref(`${row}.tenant_id`)}
    AND gone_.session_id = ${sql.ref(`${row}.${sessionColumn}`)} AND gone_.expires_at <= now())`;
}

/** The condition on a row of `sessions` itself (alias `sessions`): unexpired, and its owner is the scope's. */
export function sessionShown(scope: ReadScope, sessions: string): RawBuilder<unknown> {
  const live = sql`${sql.ref(`${sessions}.expires_at`)} > now()`;
  return scope.ownerId === undefined ? live : sql`${live} AND ${sql.ref(`${sessions}.user_id`)} = ${scope.ownerId}`;
}

/** `ark.tenant_ids` as a text[] literal. */
function tenantArray(tenantIds: readonly string[]): string {
  return `{${tenantIds.map((t) => `"${t.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

/** The statement that sets it, quoted for the simple protocol: `local` for the transaction only, else for the session. */
function tenantSetting(array: string, local: boolean): string {
  return `SELECT set_config('ark.tenant_ids', ${pg.escapeLiteral(array)}, ${local})`;
}

function beginStatement(settings: TransactionSettings): string {
  if (!settings.isolationLevel && !settings.accessMode) return 'BEGIN';
  return ['START TRANSACTION', settings.isolationLevel && `ISOLATION LEVEL ${settings.isolationLevel}`, settings.accessMode].filter(Boolean).join(' ');
}

/**
 * A pooled connection that sets the tenant scope. A transaction sets it for itself, with BEGIN in one
 * simple-protocol round trip. A statement outside a transaction runs on its own (autocommit) under
 * the connection's session-level setting, which is set first only when it differs from the last one
 * this connection set: so a watcher's read is one round trip, not BEGIN, read, COMMIT. A transaction's
 * local setting ends with it, and the session-level one applies again.
 */
class ScopedConnection implements DatabaseConnection {
  inTransaction = false;
  /** The session-level setting this connection holds; undefined: unknown (none yet, or a set failed). */
  private sessionTenants: string | undefined;

  constructor(readonly inner: DatabaseConnection) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (this.inTransaction) return this.inner.executeQuery<R>(query);
    const tenants = tenantArray(tenantScope.current() ?? []);
    if (tenants !== this.sessionTenants) {
      this.sessionTenants = undefined;
      await this.inner.executeQuery(CompiledQuery.raw(tenantSetting(tenants, false)));
      this.sessionTenants = tenants;
    }
    return this.inner.executeQuery<R>(query);
  }

  streamQuery<R>(query: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
    if (!this.inTransaction) throw new Error('streamed queries must run in a transaction (tenant scope)');
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

class ScopedDriver implements Driver {
  private readonly wrappers = new WeakMap<DatabaseConnection, ScopedConnection>();

  constructor(private readonly inner: Driver) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.inner.acquireConnection();
    let wrapper = this.wrappers.get(connection);
    if (!wrapper) this.wrappers.set(connection, (wrapper = new ScopedConnection(connection)));
    return wrapper;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const scoped = connection as ScopedConnection;
    await scoped.inner.executeQuery(CompiledQuery.raw(`${beginStatement(settings)}; ${tenantSetting(tenantArray(tenantScope.current() ?? []), true)}`));
    scoped.inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const scoped = connection as ScopedConnection;
    scoped.inTransaction = false;
    await this.inner.commitTransaction(scoped.inner);
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const scoped = connection as ScopedConnection;
    scoped.inTransaction = false;
    await this.inner.rollbackTransaction(scoped.inner);
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection((connection as ScopedConnection).inner);
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/** Kysely's PostgreSQL dialect with the tenant scope set on every transaction. */
export class TenantScopedPostgresDialect extends PostgresDialect {
  override createDriver(): Driver {
    return new ScopedDriver(super.createDriver());
  }
}
