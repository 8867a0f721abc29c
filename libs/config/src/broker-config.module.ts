import { Global, Module, type DynamicModule } from '@nestjs/common';
import { BrokerConfig } from './broker-config.js';

/** Makes the validated configuration injectable as `BrokerConfig` everywhere. */
@Global()
@Module({})
export class BrokerConfigModule {
  static forRoot(config: BrokerConfig): DynamicModule {
    return { module: BrokerConfigModule, providers: [{ provide: BrokerConfig, useValue: config }], exports: [BrokerConfig] };
  }
}
