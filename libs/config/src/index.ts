export { BrokerConfig, InvalidConfigError, loadBrokerConfig, MAX_TTL_SECONDS } from './broker-config.js';
export { BrokerConfigModule } from './broker-config.module.js';
export { BROKER_VERSION } from './broker-version.js';
export {
  networkGrantFor,
  parseAddressRanges,
  rangeHolds,
  type AddressRange,
  parseNetworkGrants,
  parseServiceAccountGrants,
  type GrantRole,
  type IdentityGrant,
  type NetworkGrant,
  type ServiceAccountGrant,
} from './identity-grants.js';
