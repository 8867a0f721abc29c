import { plainToInstance, Transform } from 'class-transformer';
import { parseAddressRanges, parseNetworkGrants, parseServiceAccountGrants } from './identity-grants.js';
import { IsBoolean, IsIn, IsInt, IsNumber, IsOptional, IsString, Matches, Max, Min, MinLength, validateSync } from 'class-validator';

const toInt = ({ value }: { value: unknown }) => (typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value);
const toBool = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return value;
};

/** The longest visibility a setting or a request's `ttl_seconds` may ask for (about 68 years), so expiry stays a valid timestamp. */
export const MAX_TTL_SECONDS = 2_147_483_647;

/**
 * Every setting the broker reads from its environment. Names are the environment variable names so an
 * error message points straight at what to fix. Defaults suit a developer laptop.
 */
export class BrokerConfig {
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 8080;

  @IsString()
  HOST = '0.0.0.0';

  /** PostgreSQL connection string. Unset: an embedded PostgreSQL is started under EMBEDDED_PG_DIR. */
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\//, { message: 'must be a postgres:// or postgresql:// URL' })
  DATABASE_URL?: string;

  /**
   * The owner's connection string for migrations (MIGRATE_ON_START and the CLI's `migrate`, `keys`,
   * `analysts`, `retention`, `projections rebuild`), so `serve` can log in as an unprivileged member
   * of ark_broker_app through DATABASE_URL. Unset: DATABASE_URL does both.
   */
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\//, { message: 'must be a postgres:// or postgresql:// URL' })
  MIGRATE_DATABASE_URL?: string;

  @Transform(toInt)
  @IsInt()
  @Min(2)
  @Max(500)
  DATABASE_POOL_SIZE = 20;

  /** A CA file to verify PostgreSQL's certificate against (sslmode=verify-full unless the URL says otherwise); read by createPool. */
  @IsOptional()
  @IsString()
  DATABASE_SSL_ROOT_CERT_PATH?: string;

  @IsString()
  EMBEDDED_PG_DIR = '.data/postgres';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(65535)
  EMBEDDED_PG_PORT = 54329;

  @Transform(toBool)
  @IsBoolean()
  MIGRATE_ON_START = true;

  /**
   * Longest the start-up migration may take, in ms (0: no limit). Past it start-up fails with an
   * error naming `ark-broker migrate`, before a start-up probe kills the pod mid-migration.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  MIGRATE_ON_START_TIMEOUT_MS = 0;

  /** Extra time the group-commit writer waits to gather concurrent appends (0: only what queued meanwhile). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(100)
  APPEND_BATCH_WINDOW_MS = 0;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100_000)
  APPEND_MAX_BATCH_EVENTS = 5_000;

  /** Past this many queued events new appends are refused with 503 + Retry-After instead of queueing. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  APPEND_MAX_QUEUED_EVENTS = 100_000;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(32)
  APPEND_MAX_IN_FLIGHT = 4;

  /**
   * Events in the group-commit writer at once, all tenants together; calls beyond wait per tenant
   * and are let in round-robin, so a flooding tenant never queues ahead of another's next call.
   * 0: no fair queuing.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(10_000_000)
  APPEND_FAIR_WINDOW_EVENTS = 2_000;

  /** One tenant's events waiting to be written (fair queue and writer); past it that tenant's writes get 429 + Retry-After. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  APPEND_TENANT_MAX_QUEUED_EVENTS = 50_000;

  @Transform(toInt)
  @IsInt()
  @Min(1_024)
  @Max(1_073_741_824)
  BODY_LIMIT_BYTES = 10 * 1024 * 1024;

  /**
   * What one page of events may hold of their JSON, in bytes (a list page of /v2/sessions/:id/events
   * or /v2/events, and each read a watch stream makes); a page stops there, with at least one event,
   * and its cursor continues.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1_024)
  @Max(1_073_741_824)
  READ_PAGE_MAX_BYTES = 4 * 1024 * 1024;

  /**
   * One tenant's API reads (GET/HEAD but watch streams) in progress at once on a replica; more wait
   * in that tenant's queue, so they never delay another tenant's (0: no limit).
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(10_000)
  READ_TENANT_MAX_CONCURRENT = 4;

  /** One tenant's reads waiting for a turn; past it its reads get 429 + Retry-After. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  READ_TENANT_MAX_QUEUED = 1_000;

  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(300_000)
  SSE_HEARTBEAT_MS = 15_000;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(300_000)
  SSE_RETRY_MS = 2_000;

  /** A watcher whose socket has not drained for this long is cut; it resumes from its last id. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  SSE_STALL_TIMEOUT_MS = 30_000;

  /** Safety-net poll for watchers, in case a notification is lost. */
  @Transform(toInt)
  @IsInt()
  @Min(50)
  @Max(60_000)
  WATCH_POLL_MS = 1_000;

  /** How often each replica sweeps the query execution queue: leases that ran out, TTLs, events not yet appended; 0: never. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(60_000)
  QUERY_SWEEP_INTERVAL_MS = 1_000;

  /**
   * How often each replica keeps the sessions of unfinished queries from expiring and forgets
   * executors idle for an hour (docs/executors.md#leases-ttl-and-the-sweeper); 0: never.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3_600)
  QUERY_UPKEEP_INTERVAL_SECONDS = 60;

  /** `none` (one local tenant, no authentication), `jwt` (Bearer tokens), `header` (a trusted auth proxy). */
  @IsIn(['none', 'jwt', 'header'], { message: 'must be one of none, jwt, header' })
  AUTH_MODE: 'none' | 'jwt' | 'header' = 'none';

  /** HS256 shared secret for AUTH_MODE=jwt (or AUTH_JWKS_URL). */
  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'must be at least 32 characters' })
  AUTH_JWT_SECRET?: string;

  @IsOptional()
  @Matches(/^https?:\/\//, { message: 'must be an http(s) URL' })
  AUTH_JWKS_URL?: string;

  @IsOptional()
  @IsString()
  AUTH_JWT_ISSUER?: string;

  @IsOptional()
  @IsString()
  AUTH_JWT_AUDIENCE?: string;

  @IsString()
  @MinLength(1)
  AUTH_TENANT_CLAIM = 'tenant';

  @IsString()
  @MinLength(1)
  AUTH_USER_CLAIM = 'sub';

  @IsString()
  @MinLength(1)
  AUTH_ROLES_CLAIM = 'roles';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(600)
  AUTH_CLOCK_SKEW_SECONDS = 30;

  /** How long a verified JWT or API key is reused without checking it again (a revoked key counts within this). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(300)
  AUTH_CACHE_SECONDS = 5;

  /** AUTH_MODE=header: the headers the auth proxy sets, honoured only from AUTH_TRUSTED_PROXIES. */
  @IsString()
  @MinLength(1)
  AUTH_HEADER_TENANT = 'x-ark-tenant';

  @IsString()
  @MinLength(1)
  AUTH_HEADER_USER = 'x-ark-user';

  @IsString()
  @MinLength(1)
  AUTH_HEADER_ROLES = 'x-ark-roles';

  /** AUTH_MODE=header: comma-separated addresses or CIDRs of the auth proxies; required in that mode (no default: a local process is not a proxy). */
  @IsString()
  AUTH_TRUSTED_PROXIES = '';

  /** Callers without credentials from these networks are let in as a tenant and roles: `<cidr>=<tenant>:<role>,<role>; …` (Ark's in-cluster callers). */
  @IsString()
  AUTH_TRUSTED_NETWORKS = '';

  /** Kubernetes ServiceAccount tokens (TokenReview) let in as a tenant and roles: `<namespace>/<name|*>=<tenant>:<role>,<role>; …`; empty: off. */
  @IsString()
  AUTH_K8S_SERVICE_ACCOUNTS = '';

  /** The Kubernetes API that reviews tokens (in a pod: the default). */
  @Matches(/^https?:\/\//, { message: 'must be an http(s) URL' })
  AUTH_K8S_API_URL = 'https://kubernetes.default.svc';

  /** The broker's own ServiceAccount token (it needs `create` on `tokenreviews`: the chart's ClusterRole). */
  @IsString()
  AUTH_K8S_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

  /** CA bundle of the Kubernetes API; missing file: the system's CAs. */
  @IsString()
  AUTH_K8S_CA_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';

  /** Audiences the reviewed tokens must be for (comma-separated); empty: the API server's own. */
  @IsString()
  AUTH_K8S_AUDIENCES = '';

  /** Accept JWTs without `exp` (they never expire); off by default. */
  @Transform(toBool)
  @IsBoolean()
  AUTH_JWT_ALLOW_NO_EXP = false;

  /** Label `ark_broker_ingest_requests_total` with tenant ids. /metrics answers anyone, so only where it is not reachable by tenants. */
  @Transform(toBool)
  @IsBoolean()
  METRICS_TENANT_LABEL = false;

  /** Whether the purge-all DELETEs (`/traces`, `/events`, `/sessions`, `/messages`, `/conversations`, `/stream`) are allowed at all (for admins); the chart sets false. */
  @Transform(toBool)
  @IsBoolean()
  ALLOW_PURGE_ALL = true;

  /**
   * After SIGTERM, how long the broker drains (SSE streams told to reconnect, open chunk uploads
   * committed and answered, in-flight appends finished) before it cuts what is left and exits.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(600_000)
  SHUTDOWN_GRACE_MS = 20_000;

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  /** `json`: one pino JSON object per line (for collectors); `text`: Nest's readable lines. */
  @IsIn(['json', 'text'])
  LOG_FORMAT: 'json' | 'text' = 'text';

  /**
   * Access log: one line per request. 5xx answers at `error`, 4xx at `warn`, the rest at `debug`
   * (LOG_LEVEL=debug shows them all); this fraction of the rest (0-1) is logged at `info` too.
   * Probes and /metrics are logged only when they fail.
   */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value)) ? Number(value) : value))
  @IsNumber()
  @Min(0)
  @Max(1)
  ACCESS_LOG_SAMPLE_RATE = 0;

  /** Comma-separated origins browsers may call from (e.g. the dashboard's); empty: no cross-origin access. */
  @IsString()
  CORS_ORIGINS = '';

  /** Per-tenant limit on writes (POST/PUT), requests per second; 0: unlimited. Past it: 429 + Retry-After. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  RATE_LIMIT_WRITES_PER_SECOND = 0;

  /** Watch (SSE) streams one user may hold open at once, per replica; past it: 429 `too_many_watches`. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100_000)
  WATCH_STREAMS_PER_USER = 64;

  /** A request body (other than a streamed chunk upload) must arrive within this long, else 408; 0: no limit. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  REQUEST_BODY_TIMEOUT_MS = 30_000;

  /**
   * Upstream's retention settings, same names and meaning (docs/architecture.md#retention): a message
   * (`POST /messages`) is visible this long after it was recorded, unless its request gave `ttl_seconds`.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(MAX_TTL_SECONDS)
  MESSAGE_VISIBILITY_TTL_SECONDS = 2_592_000;

  /** Every other event (operation events, spans, chunks, API events): visible this long unless its request gave `ttl_seconds`. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(MAX_TTL_SECONDS)
  EVENT_VISIBILITY_TTL_SECONDS = 2_592_000;

  /** A session is visible this long after its last event or message (and while any of its events is); at least the two above. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(MAX_TTL_SECONDS)
  SESSIONS_VISIBILITY_TTL_SECONDS = 2_592_000;

  /** How often the reaper deletes what expired; 0: never (expired data stays invisible but stored). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(2_147_483)
  ROW_REAP_INTERVAL_SECONDS = 3_600;

  /** Rows (events, messages) or sessions the reaper deletes per statement, so no transaction holds many locks for long. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  ROW_REAP_BATCH_SIZE = 10_000;

  /** Seconds between compaction passes (docs/architecture.md#compaction); 0: never compact. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(2_147_483)
  CHUNK_COMPACTION_INTERVAL_SECONDS = 60;

  /** How long after a query's chunk stream (or the query) ended its chunks are folded into one `llm_completions` row. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(2_147_483)
  CHUNK_COMPACTION_DELAY_SECONDS = 300;

  /** How long a folded raw `llm.chunk` event is kept at most after compaction (its own TTL when shorter); the completion views read the folded row. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(MAX_TTL_SECONDS)
  COMPACTED_CHUNK_TTL_SECONDS = 3_600;

  /**
   * Seconds between passes that ANALYZE the broker's tables never analyzed or changed by a tenth
   * since (docs/architecture.md#planner-statistics); 0: never (leave it to autovacuum).
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(2_147_483)
  ANALYZE_INTERVAL_SECONDS = 10;
}

function crossFieldProblems(config: BrokerConfig): string[] {
  const problems: string[] = [];
  if (config.AUTH_MODE === 'jwt' && !config.AUTH_JWT_SECRET && !config.AUTH_JWKS_URL) {
    problems.push('AUTH_MODE="jwt": needs AUTH_JWT_SECRET or AUTH_JWKS_URL to verify tokens');
  }
  if (config.AUTH_MODE === 'header' && config.AUTH_TRUSTED_PROXIES.trim() === '') {
    problems.push('AUTH_MODE="header": needs AUTH_TRUSTED_PROXIES, the addresses or CIDRs of the auth proxies whose identity headers count');
  }
  if (config.MIGRATE_DATABASE_URL && !config.DATABASE_URL) {
    problems.push('MIGRATE_DATABASE_URL: needs DATABASE_URL too (without it the embedded PostgreSQL is used, and the broker owns it)');
  }
  const parsed: [string, (value: string) => unknown][] = [
    ['AUTH_TRUSTED_PROXIES', parseAddressRanges],
    ['AUTH_TRUSTED_NETWORKS', parseNetworkGrants],
    ['AUTH_K8S_SERVICE_ACCOUNTS', parseServiceAccountGrants],
  ];
  for (const [name, parse] of parsed) {
    try {
      parse(config[name as keyof BrokerConfig] as string);
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message}`);
    }
  }
  const contents = Math.max(config.MESSAGE_VISIBILITY_TTL_SECONDS, config.EVENT_VISIBILITY_TTL_SECONDS);
  if (config.SESSIONS_VISIBILITY_TTL_SECONDS < contents) {
    problems.push(
      `SESSIONS_VISIBILITY_TTL_SECONDS=${config.SESSIONS_VISIBILITY_TTL_SECONDS}: must be at least MESSAGE_VISIBILITY_TTL_SECONDS and ` +
        `EVENT_VISIBILITY_TTL_SECONDS (${contents}), so a session never disappears while its messages and events are still kept`,
    );
  }
  return problems;
}

export class InvalidConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'InvalidConfigError';
  }
}

/** Reads and validates the configuration; throws one error listing every bad value. */
export function loadBrokerConfig(env: Record<string, string | undefined> = process.env): BrokerConfig {
  const known = Object.keys(new BrokerConfig()).concat(
    'DATABASE_URL',
    'MIGRATE_DATABASE_URL',
    'DATABASE_SSL_ROOT_CERT_PATH',
    'AUTH_JWT_SECRET',
    'AUTH_JWKS_URL',
    'AUTH_JWT_ISSUER',
    'AUTH_JWT_AUDIENCE',
  );
  const raw: Record<string, string> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const config = plainToInstance(BrokerConfig, raw);
  const errors = validateSync(config, { whitelist: true });
  const problems = errors.length > 0 ? [] : crossFieldProblems(config);
  if (problems.length > 0) throw new InvalidConfigError(problems);
  if (errors.length > 0) {
    throw new InvalidConfigError(
      errors.map((e) => {
        const constraints = Object.values(e.constraints ?? {}).map((m) => m.replace(`${e.property} `, ''));
        return `${e.property}=${JSON.stringify(raw[e.property])}: ${constraints.join('; ')}`;
      }),
    );
  }
  return config;
}
