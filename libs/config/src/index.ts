export { BrokerConfig, InvalidConfigError, loadBrokerConfig } from './broker-config.js';
export { BrokerConfigModule } from './broker-config.module.js';
