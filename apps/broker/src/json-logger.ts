import type { LoggerService } from '@nestjs/common';
import pino, { type Logger, type LoggerOptions } from 'pino';

/**
 * The broker's pino settings: levels by name (`"level":"warn"`, as collectors and most log schemas
 * expect, not pino's numbers), ISO-8601 times, `service` on every line.
 */
export function pinoOptions(level: string, context?: string): LoggerOptions {
  return {
    level: level === 'silent' ? 'silent' : level,
    base: { service: 'ark-broker', ...(context ? { context } : {}) },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

/**
 * Nest's logger as pino JSON lines on stdout (one object per line: level, time, context, msg), for
 * log collectors. Messages never include request bodies or credentials; errors carry the request id
 * in their context (see ApiExceptionFilter).
 */
export class JsonLogger implements LoggerService {
  private readonly pino: Logger;

  constructor(level: string) {
    this.pino = pino(pinoOptions(level));
  }

  log(message: unknown, context?: string): void {
    this.pino.info({ context }, String(message));
  }

  error(message: unknown, trace?: string, context?: string): void {
    this.pino.error({ context, ...(trace ? { trace } : {}) }, String(message));
  }

  warn(message: unknown, context?: string): void {
    this.pino.warn({ context }, String(message));
  }

  debug(message: unknown, context?: string): void {
    this.pino.debug({ context }, String(message));
  }

  verbose(message: unknown, context?: string): void {
    this.pino.trace({ context }, String(message));
  }

  fatal(message: unknown, context?: string): void {
    this.pino.fatal({ context }, String(message));
  }
}
