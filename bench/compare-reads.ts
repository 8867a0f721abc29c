import { parseArgs } from 'node:util';
import { summarizeLatencies } from './stats.js';

export const COMPARE_READS_USAGE = `npm run bench -- compare-reads --a URL --b URL [--path /v2/sessions?limit=50 ...] [--rounds 400] [--warmup 20]

Two brokers already running (e.g. this commit and a baseline, on one database) answer the same GET
routes in turns: each round sends every path to both, A first on even rounds and B first on odd
ones, so drift of the machine falls on both alike. Prints p50 / p99 / max per path and broker.`;

const DEFAULT_PATHS = ['/v2/sessions?limit=50', '/v2/sessions?limit=50&status=idle', '/v2/sessions?limit=50&hasErrors=true'];

async function timedGet(url: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(url).catch((error: Error) => {
    throw new Error(`GET ${url}: ${error.cause instanceof Error ? error.cause.message : error.message}`);
  });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return performance.now() - started;
}

/** `npm run bench -- compare-reads`: an interleaved A/B of read latency between two brokers. */
export async function runCompareReads(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        a: { type: 'string' },
        b: { type: 'string' },
        path: { type: 'string', multiple: true },
        rounds: { type: 'string', default: '400' },
        warmup: { type: 'string', default: '20' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    console.error(`compare-reads: ${(error as Error).message}\n\n${COMPARE_READS_USAGE}`);
    return 2;
  }
  const rounds = Number(values.rounds);
  const warmup = Number(values.warmup);
  if (values.help || !values.a || !values.b || !Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(warmup) || warmup < 0) {
    console.log(COMPARE_READS_USAGE);
    return values.help ? 0 : 2;
  }
  const brokers = { A: values.a.replace(/\/$/, ''), B: values.b.replace(/\/$/, '') };
  const paths = [...new Set(values.path ?? DEFAULT_PATHS)];
  const samples = new Map(paths.map((p) => [p, { A: [] as number[], B: [] as number[] }]));
  try {
    for (let round = -warmup; round < rounds; round++) {
      for (const path of paths) {
        for (const side of round % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
          const ms = await timedGet(brokers[side] + path);
          if (round >= 0) samples.get(path)![side].push(ms);
        }
      }
    }
  } catch (error) {
    // A route that fails on either broker makes the comparison meaningless: say which, and stop.
    console.error(`compare-reads: ${(error as Error).message}`);
    return 1;
  }
  console.log(`A = ${brokers.A}, B = ${brokers.B}; ${rounds} rounds; p50 / p99 / max ms`);
  for (const [path, { A, B }] of samples) {
    const [a, b] = [summarizeLatencies(A), summarizeLatencies(B)];
    const f = (s: typeof a) => `${s.p50.toFixed(2)} / ${s.p99.toFixed(2)} / ${s.max.toFixed(1)}`;
    console.log(`${path}  A ${f(a)}  B ${f(b)}`);
  }
  return 0;
}
