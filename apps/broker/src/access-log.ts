import { Logger } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { BrokerConfig } from '#ark/config';
import { LOCAL_IDENTITY, type CallerIdentity } from '#ark/tenancy';
import { pinoOptions } from './json-logger.js';

/** Probes and scrapes: logged only when they fail. */
const QUIET_ROUTES = new Set(['/health', '/readyz', '/metrics']);

type Level = 'error' | 'warn' | 'info' | 'debug';

interface AccessLine {
  requestId: string;
  method: string;
  route: string | null;
  path: string;
  status: number;
  durationMs: number;
  bytes?: number;
  tenant?: string;
  remoteAddress: string;
  userAgent?: string;
}

/**
 * The access log (ACCESS_LOG_SAMPLE_RATE in BrokerConfig): one line per answered request, decided
 * by status and level before anything is formatted, so requests nobody logs cost a comparison. With
 * LOG_FORMAT=json the lines go through their own pino with an asynchronous, buffered stdout
 * (flushed on close) and carry the request's fields as JSON; with text, through Nest's logger.
 */
export function registerAccessLog(fastify: FastifyInstance, config: BrokerConfig): void {
  const sampleRate = config.ACCESS_LOG_SAMPLE_RATE;
  // AUTH_MODE=none sets no identity on requests: every caller is the local one.
  const defaultIdentity = config.AUTH_MODE === 'none' ? LOCAL_IDENTITY : undefined;
  let write: (level: Level, fields: AccessLine, message: string) => void;
  let enabled: (level: Level) => boolean;
  if (config.LOG_FORMAT === 'json') {
    const destination = pino.destination({ sync: false, minLength: 4096 });
    const log = pino(pinoOptions(config.LOG_LEVEL, 'Access'), destination);
    enabled = (level) => log.isLevelEnabled(level);
    write = (level, fields, message) => log[level](fields, message);
    fastify.addHook('onClose', (_instance, done) => destination.flush(() => done()));
  } else {
    const logger = new Logger('Access');
    const levels = new Set(LEVELS_SHOWN[config.LOG_LEVEL] ?? LEVELS_SHOWN.info);
    enabled = (level) => levels.has(level);
    write = (level, fields, message) => {
      const line = `${message} ${fields.status} ${fields.durationMs} ms id=${fields.requestId}${fields.tenant ? ` tenant=${fields.tenant}` : ''}`;
      if (level === 'error') logger.error(line);
      else if (level === 'warn') logger.warn(line);
      else if (level === 'info') logger.log(line);
      else logger.debug(line);
    };
  }

  fastify.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const route = request.routeOptions.url;
    let level: Level | undefined;
    if (status >= 500) level = 'error';
    else if (status >= 400) level = 'warn';
    else if (route && QUIET_ROUTES.has(route)) level = undefined;
    else if (sampleRate > 0 && Math.random() < sampleRate) level = 'info';
    else level = 'debug';
    if (level && enabled(level)) {
      const identity = (request as { identity?: CallerIdentity }).identity ?? defaultIdentity;
      write(
        level,
        {
          requestId: String(request.id),
          method: request.method,
          route: route ?? null,
          path: request.url.split('?', 1)[0]!,
          status,
          durationMs: Math.round(reply.elapsedTime * 10) / 10,
          bytes: Number(reply.getHeader('content-length')) || undefined,
          tenant: identity?.tenantId,
          remoteAddress: request.ip,
          userAgent: request.headers['user-agent'],
        },
        `${request.method} ${route ?? request.url.split('?', 1)[0]}`,
      );
    }
    done();
  });
}

/** Nest's text logger shows these levels at each LOG_LEVEL. */
const LEVELS_SHOWN: Record<string, Level[]> = {
  silent: [],
  fatal: [],
  error: ['error'],
  warn: ['error', 'warn'],
  info: ['error', 'warn', 'info'],
  debug: ['error', 'warn', 'info', 'debug'],
  trace: ['error', 'warn', 'info', 'debug'],
};
