import { createParamDecorator, type ExecutionContext } from '@nestjs/common';

export const ROLES = ['producer', 'reader', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: every read, write and watch is scoped to `tenantId` (and, for readers, `userId`). */
export interface CallerIdentity {
  tenantId: string;
  userId: string;
  roles: readonly Role[];
  /** An API key bound to namespaces may only write events of those namespaces (or of none). */
  namespaces?: readonly string[];
}

/** AUTH_MODE=none: one local tenant, and the caller may do everything in it. */
export const LOCAL_IDENTITY: CallerIdentity = Object.freeze({
  tenantId: 'default',
  userId: 'anonymous',
  roles: Object.freeze(['producer', 'reader', 'admin'] as Role[]),
});

/** Injects the caller's identity into a handler (`@Caller() caller: CallerIdentity`). */
export const Caller = createParamDecorator((_: unknown, ctx: ExecutionContext): CallerIdentity => {
  const request = ctx.switchToHttp().getRequest<{ identity?: CallerIdentity }>();
  return request.identity ?? LOCAL_IDENTITY;
});
