import { Module } from '@nestjs/common';
import { BrokerMetrics } from './broker-metrics.js';
import { MetricsController } from './metrics.controller.js';
import { DatabaseCountsReader } from './database-counts.js';

@Module({ controllers: [MetricsController], providers: [BrokerMetrics, DatabaseCountsReader] })
export class MetricsModule {}
