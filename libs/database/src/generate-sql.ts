import type { Transaction } from 'kysely';
import type { Database } from './schema.js';
import type { ReadScope } from './tenant-scope.js';

/** One call of a repository method that `npm run sql:generate` makes to record the SQL it sends. */
export interface SqlExample<A extends readonly unknown[] = readonly unknown[]> {
  /** Tells apart the examples of one method whose SQL differs (e.g. `reader`, `admin`, `every filter`). */
  name?: string;
  /** Tenants whose scope the call runs in, for a method that does not enter one itself (an append in the caller's transaction). */
  tenants?: readonly string[];
  /** The arguments; `EXAMPLE_TRANSACTION` stands for a transaction the generator opens (and rolls back). */
  params: A;
}

/** Stands for a `Transaction` argument in an example: the generator opens one in the example's tenants and rolls it back after the call. */
export const EXAMPLE_TRANSACTION = Symbol('example transaction') as unknown as Transaction<Database>;

/** The two scopes whose SQL differs, for examples: an admin's (the whole tenant `t`) and a reader's (the sessions user `u` owns). */
export const EXAMPLE_ADMIN: ReadScope = { tenantId: 't' };
export const EXAMPLE_READER: ReadScope = { tenantId: 't', ownerId: 'u' };

const examplesByClass = new WeakMap<object, Map<string, readonly SqlExample[]>>();

/**
 * Marks a repository method whose SQL is checked in (docs/sql, as Immich's `@GenerateSql`): the
 * generator calls it with each example's arguments on a fresh database and writes every statement
 * it sends. Costs nothing at run time beyond recording the examples once, when the class is defined.
 */
export function GenerateSql<const A extends unknown[]>(...examples: SqlExample<A>[]) {
  return <M extends (...args: A) => unknown>(target: object, method: string | symbol, _descriptor: TypedPropertyDescriptor<M>): void => {
    let methods = examplesByClass.get(target);
    if (!methods) examplesByClass.set(target, (methods = new Map<string, readonly SqlExample[]>()));
    methods.set(String(method), examples);
  };
}

/** The examples of a class's methods, in the order the methods are declared. */
export function sqlExamplesOf(repository: abstract new (...args: never) => unknown): ReadonlyMap<string, readonly SqlExample[]> {
  return examplesByClass.get(repository.prototype as object) ?? new Map();
}
