export { BrokerConfig, InvalidConfigError, loadBrokerConfig, MAX_TTL_SECONDS } from './broker-config.js';
export { BrokerConfigModule } from './broker-config.module.js';
