export { BrokerConfig, InvalidConfigError, loadBrokerConfig, unenforcedUpstreamSettings, UPSTREAM_RETENTION_SETTINGS } from './broker-config.js';
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
