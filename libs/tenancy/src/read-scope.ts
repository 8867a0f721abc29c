import type { ReadScope } from '#ark/database';
import type { CallerIdentity } from './caller-identity.js';

/** What a caller may read (docs/architecture.md#tenancy): an admin the whole tenant; anyone else only the sessions they own. */
export function readScopeOf(caller: CallerIdentity): ReadScope {
  return caller.roles.includes('admin') ? { tenantId: caller.tenantId } : { tenantId: caller.tenantId, ownerId: caller.userId };
}
