import { AsyncLocalStorage } from 'node:async_hooks';
import {
  CompiledQuery,
  PostgresDialect,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import pg from 'pg';

/**
 * The tenants the current work may touch, for PostgreSQL row-level security (migrations/0030): every
 * tenant table only shows and accepts rows whose `tenant_id` is in the transaction's `ark.tenant_ids`.
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

/** `ark.tenant_ids` as a text[] literal, quoted for a simple-protocol statement. */
function tenantSetting(tenantIds: readonly string[]): string {
  const array = `{${tenantIds.map((t) => `"${t.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`;
  return `SELECT set_config('ark.tenant_ids', ${pg.escapeLiteral(array)}, true)`;
}

function beginStatement(settings: TransactionSettings): string {
  if (!settings.isolationLevel && !settings.accessMode) return 'BEGIN';
  return ['START TRANSACTION', settings.isolationLevel && `ISOLATION LEVEL ${settings.isolationLevel}`, settings.accessMode].filter(Boolean).join(' ');
}

/**
 * A pooled connection that sets the tenant scope per transaction. The setting travels with BEGIN in
 * one simple-protocol round trip; a statement run outside a transaction is wrapped in one (BEGIN +
 * setting, the statement, COMMIT), because `set_config(..., true)` only lasts for its transaction.
 */
class ScopedConnection implements DatabaseConnection {
  inTransaction = false;

  constructor(readonly inner: DatabaseConnection) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (this.inTransaction) return this.inner.executeQuery<R>(query);
    await this.inner.executeQuery(CompiledQuery.raw(`BEGIN; ${tenantSetting(tenantScope.current() ?? [])}`));
    try {
      const result = await this.inner.executeQuery<R>(query);
      await this.inner.executeQuery(CompiledQuery.raw('COMMIT'));
      return result;
    } catch (error) {
      await this.inner.executeQuery(CompiledQuery.raw('ROLLBACK')).catch(() => undefined);
      throw error;
    }
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
    await scoped.inner.executeQuery(CompiledQuery.raw(`${beginStatement(settings)}; ${tenantSetting(tenantScope.current() ?? [])}`));
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
