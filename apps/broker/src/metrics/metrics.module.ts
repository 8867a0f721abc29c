import { Module } from '@nestjs/common';
import { BrokerMetrics } from './broker-metrics.js';
import { MetricsController } from './metrics.controller.js';
import { UpstreamCountsReader } from './upstream-counts.js';

@Module({ controllers: [MetricsController], providers: [BrokerMetrics, UpstreamCountsReader] })
export class MetricsModule {}
