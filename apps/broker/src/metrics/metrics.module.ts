import { Module } from '@nestjs/common';
import { BrokerMetrics } from './broker-metrics.js';
import { MetricsController } from './metrics.controller.js';

@Module({ controllers: [MetricsController], providers: [BrokerMetrics] })
export class MetricsModule {}
