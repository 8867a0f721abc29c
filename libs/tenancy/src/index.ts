export { ANALYST_ROLE, AnalystTenants, type AnalystGrant } from './analyst-tenants.js';
export { ApiKeys, looksLikeApiKey, type ApiKeyInfo } from './api-keys.js';
export { AuthError, CallerAuthenticator, effectiveMethod, mayCall, requiredRole, type AuthSettings } from './caller-authenticator.js';
export { Caller, LOCAL_IDENTITY, ROLES, type CallerIdentity, type Role } from './caller-identity.js';
export { readScopeOf } from './read-scope.js';
export { KubernetesTokenReview, type ReviewedUser, type TokenReviewSettings } from './token-review.js';
