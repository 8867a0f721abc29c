import Table from 'cli-table3';
import { type Command, Option } from 'commander';
import pc from 'picocolors';
import { BrokerClient, BrokerError, type ArkEvent, type CompletionMessage, type SessionListQuery } from '#ark/client';
import { brief, sessionTree, statusText } from './session-tree.js';

// The commands that talk to a running broker over HTTP, through libs/client: `sessions`,
// `sessions show`, `tail`, `queries show`, `queries replay`. Each takes --url and --token (or
// ARK_BROKER_URL / ARK_BROKER_TOKEN), so they work with authentication on.

interface ConnectionOptions {
  url: string;
  token?: string;
}

/** A broker command: --url and --token, and a broker's error answer printed as one line (exit code 1). */
function brokerCommand(parent: Command, nameAndArgs: string, description: string): Command {
  return parent
    .command(nameAndArgs)
    .description(description)
    .addOption(new Option('-u, --url <url>', 'broker base URL').env('ARK_BROKER_URL').default('http://127.0.0.1:8080'))
    .addOption(new Option('--token <token>', 'a JWT or API key, sent as `Authorization: Bearer`').env('ARK_BROKER_TOKEN'));
}

const clientOf = (options: ConnectionOptions) => new BrokerClient({ baseUrl: options.url, token: options.token });

/** Runs a command's work; a BrokerError (or an unreachable broker) becomes a message and exit code 1. */
async function reporting(options: ConnectionOptions, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (error instanceof BrokerError) {
      console.error(`${pc.red('error')} ${error.message}${error.requestId ? pc.dim(` (request ${error.requestId})`) : ''}`);
    } else if (error instanceof TypeError && error.message === 'fetch failed') {
      console.error(`${pc.red('error')} cannot reach the broker at ${options.url}: ${String((error.cause as Error | undefined)?.message ?? error.cause)}`);
    } else {
      throw error;
    }
    process.exitCode = 1;
  }
}

const positiveInt = (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`${JSON.stringify(value)}: expected a positive integer`);
  return Number(value);
};
const list = (value: string) =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

interface SessionsOptions extends ConnectionOptions {
  status?: 'active' | 'idle' | 'error';
  user?: string;
  namespace?: string;
  agent?: string;
  search?: string;
  from?: string;
  to?: string;
  errors?: boolean;
  limit: number;
  cursor?: string;
  all?: boolean;
  json?: boolean;
}

export function registerClientCommands(program: Command): void {
  // `sessions show <id> --url …`: the options after a subcommand are the subcommand's.
  program.enablePositionalOptions();
  const sessions = brokerCommand(program, 'sessions', 'list sessions, newest activity first (a table; --json for JSON)')
    .enablePositionalOptions()
    .addOption(new Option('--status <status>', 'only sessions in this status').choices(['active', 'idle', 'error']))
    .option('--user <user>', "only this user's sessions")
    .option('--namespace <namespace>', 'only sessions with a query in this namespace')
    .option('--agent <agent>', 'only sessions where this agent worked')
    .option('--search <text>', 'substring of the session id, a query name, agent or target')
    .option('--from <time>', 'active at or after this time (ISO 8601)')
    .option('--to <time>', 'active at or before this time (ISO 8601)')
    .option('--errors', 'only sessions with a failed query')
    .option('-n, --limit <n>', 'sessions per page', positiveInt, 20)
    .option('--cursor <cursor>', 'continue after a previous page (its printed cursor)')
    .option('--all', 'every page, not only the first')
    .option('--json', 'JSON lines, one session each')
    .action((options: SessionsOptions) =>
      reporting(options, async () => {
        const client = clientOf(options);
        const query: SessionListQuery = {
          status: options.status,
          userId: options.user,
          namespace: options.namespace,
          agent: options.agent,
          search: options.search,
          from: options.from,
          to: options.to,
          hasErrors: options.errors,
          limit: options.limit,
        };
        const rows = [];
        let next: string | null | undefined = options.cursor;
        do {
          const page = await client.listSessions({ ...query, cursor: next ?? undefined });
          rows.push(...page.items);
          next = page.hasMore ? page.nextCursor : null;
        } while (options.all && next);
        if (options.json) {
          for (const s of rows) console.log(JSON.stringify(s));
          return;
        }
        // Colours by picocolors only (cli-table3's own would ignore NO_COLOR).
        const head = ['session', 'status', 'last activity', 'queries', 'events', 'tokens', 'agents', 'user'].map((h) => pc.bold(h));
        const table = new Table({ head, style: { head: [], border: [] } });
        for (const s of rows) {
          table.push([
            s.sessionId,
            statusText(s.status),
            s.lastActivityAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
            s.errorQueryCount > 0 ? `${s.queryCount} (${pc.red(`${s.errorQueryCount} failed`)})` : String(s.queryCount),
            String(s.eventCount),
            s.tokens.total === null ? '' : String(s.tokens.total),
            s.agents.join(', '),
            s.userId ?? '',
          ]);
        }
        console.log(rows.length ? table.toString() : pc.dim('no sessions'));
        if (next) console.log(pc.dim(`more: --cursor ${next}`));
      }),
    );

  brokerCommand(sessions, 'show <sessionId>', 'the session as a tree: queries → LLM and tool calls (parameters, results, MCP session) → chunks, approvals')
    .option('--json', 'the session aggregate as JSON')
    .action((sessionId: string, options: ConnectionOptions & { json?: boolean }) =>
      reporting(options, async () => {
        const aggregate = await clientOf(options).getSession(sessionId);
        console.log(options.json ? JSON.stringify(aggregate, null, 2) : sessionTree(aggregate).join('\n'));
      }),
    );

  brokerCommand(program, 'tail', "print a running broker's events as they are appended (a session from its first event, or the feed from now)")
    .option('-s, --session <id>', 'only this session')
    .option('-q, --query <id>', 'only events of this query (UID or name)')
    .option('--namespace <namespace>', 'only events of this namespace')
    .option('-t, --type <types>', 'only these event types (comma-separated; `tool.call.*` matches a prefix)', list)
    .option('-c, --cursor <cursor>', 'resume after this id (a sequence with --session, else tx:pos; `0:0`: the whole feed)')
    .option('--json', 'one JSON event a line')
    .action((options: ConnectionOptions & { session?: string; query?: string; namespace?: string; type?: string[]; cursor?: string; json?: boolean }) =>
      reporting(options, async () => {
        const client = clientOf(options);
        const controller = new AbortController();
        let last = options.cursor;
        process.once('SIGINT', () => controller.abort());
        const watchOptions = {
          lastEventId: options.cursor,
          signal: controller.signal,
          onReconnect: ({ lastEventId }: { lastEventId: string | undefined }) =>
            console.error(pc.dim(`(disconnected from ${options.url}; resuming${lastEventId ? ` after ${lastEventId}` : ''})`)),
        };
        const stream = options.session ? client.watchSessionEvents(options.session, watchOptions) : client.watchFeed(watchOptions);
        const wanted = eventFilter(options);
        for await (const message of stream) {
          last = message.id ?? last;
          if (!wanted(message.data)) continue;
          console.log(options.json ? JSON.stringify(message.data) : eventLine(message.data));
        }
        if (last) console.error(pc.dim(`resume with --cursor ${last}`));
      }),
    );

  const queries = program.command('queries').description("a running broker's queries");

  brokerCommand(queries, 'show <queryId>', 'one query (UID or name) with its LLM and tool calls, as JSON').action(
    (queryId: string, options: ConnectionOptions) =>
      reporting(options, async () => console.log(JSON.stringify(await clientOf(options).getQuery(queryId), null, 2))),
  );

  brokerCommand(queries, 'replay <queryId>', "stream a query's answer in the terminal at its original pace (live if it still runs); its other events on stderr")
    .option('--fast', 'as fast as the terminal reads, not at the recorded pace')
    .option('--max-gap <ms>', 'cap every pause of the recorded pace at this many ms', positiveInt, 2000)
    .option('--quiet', 'only the answer: no events on stderr')
    .action((queryId: string, options: ConnectionOptions & { fast?: boolean; maxGap: number; quiet?: boolean }) =>
      reporting(options, async () => {
        const client = clientOf(options);
        const controller = new AbortController();
        process.once('SIGINT', () => controller.abort());
        // The answer goes to stdout, the events to stderr: a terminal shows both, a pipe gets the answer alone.
        let answerOpen = false;
        const replay = options.fast ? { replay: 'fast' as const } : { replay: 'realtime' as const, maxGapMs: options.maxGap };
        for await (const message of client.completion(queryId, replay, { signal: controller.signal })) {
          const text = replayText(message.data);
          if (text !== undefined) {
            process.stdout.write(text);
            answerOpen = text.length > 0 && !text.endsWith('\n');
          } else if (!options.quiet && message.data.type === 'event') {
            const line = pc.dim(`[${eventSummary(message.data.event)}]`);
            console.error(answerOpen ? `\n${line}` : line);
          }
        }
        if (answerOpen) process.stdout.write('\n');
      }),
    );
}

/** The text a completion message adds to the answer: a chunk's content delta. */
function replayText(message: CompletionMessage): string | undefined {
  if (message.type === 'event') return undefined;
  const choice = (message.choices as { delta?: { content?: unknown } }[] | undefined)?.[0];
  return typeof choice?.delta?.content === 'string' ? choice.delta.content : undefined;
}

function eventFilter(options: { query?: string; namespace?: string; type?: string[] }): (e: ArkEvent) => boolean {
  const types = options.type ?? [];
  const typeMatches = (type: string) => types.some((t) => (t.endsWith('*') ? type.startsWith(t.slice(0, -1)) : type === t));
  return (e) =>
    (options.query === undefined || e.queryId === options.query || e.queryName === options.query) &&
    (options.namespace === undefined || e.namespace === options.namespace) &&
    (types.length === 0 || typeMatches(e.type));
}

/** One line of an event's essentials: what a person scanning `tail` wants. */
function eventSummary(e: ArkEvent): string {
  const d = (e.data ?? {}) as Record<string, unknown>;
  const detail = [d.toolName, d.model, d.agent, d.team, d.error ? `error ${brief(d.error, 60)}` : undefined]
    .filter((x) => typeof x === 'string' && x)
    .join(' ');
  return `${e.type}${detail ? ` ${detail}` : ''}`;
}

function eventLine(e: ArkEvent): string {
  const colour = e.type.endsWith('.failed') ? pc.red : e.type.endsWith('.completed') ? pc.green : e.type.endsWith('.started') ? pc.yellow : (s: string) => s;
  return `${pc.dim(e.time)} ${pc.cyan(`${e.sessionId}#${e.sequence}`)} ${colour(eventSummary(e))}${e.queryName ? pc.dim(` query ${e.queryName}`) : ''}`;
}
