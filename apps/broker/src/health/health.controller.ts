import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, type HealthCheckResult, type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { DatabaseConnection } from '#ark/database';
import { EventListenerStatus } from '#ark/event-store';
import { ShutdownSignal } from '#ark/shutdown';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly database: DatabaseConnection,
    private readonly listener: EventListenerStatus,
    private readonly shutdown: ShutdownSignal,
  ) {}

  @Get('health')
  @ApiOperation({ summary: 'Liveness: the process is up' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: the database answers and the notification listener is connected; 503 once shutting down' })
  ready(): Promise<HealthCheckResult> {
    return this.health.check([() => this.databaseUp(), () => this.listenerUp(), () => this.notShuttingDown()]);
  }

  private notShuttingDown(): HealthIndicatorResult {
    const indicator = this.indicators.check('shutdown');
    return this.shutdown.draining ? indicator.down({ message: 'shutting down' }) : indicator.up();
  }

  private async databaseUp(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('database');
    try {
      await this.database.ping();
      return indicator.up();
    } catch (error) {
      return indicator.down({ message: (error as Error).message });
    }
  }

  private listenerUp(): HealthIndicatorResult {
    const indicator = this.indicators.check('listener');
    return this.listener.connected ? indicator.up() : indicator.down({ message: 'LISTEN connection is down; reconnecting' });
  }
}
