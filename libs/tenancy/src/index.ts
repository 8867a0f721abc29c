export { Caller, LOCAL_IDENTITY, type CallerIdentity, type Role } from './caller-identity.js';
