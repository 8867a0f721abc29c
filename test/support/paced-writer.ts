/**
 * An open-loop writer: `perSecond` `POST /v2/events` a second for `seconds`, each sent on its own
 * schedule whatever the answers. Imported by a test for its own client, and run as a process
 * (`node paced-writer.js '<json options>'`, answers as JSON on stdout) to load the broker from outside
 * the test's event loop.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

export interface PacedWriterOptions {
  url: string;
  bearer: string;
  sessionId: string;
  perSecond: number;
  seconds: number;
}

export interface PacedAnswer {
  status: number;
  ms: number;
}

export async function pacedWrites(options: PacedWriterOptions): Promise<PacedAnswer[]> {
  // node:http with a bounded keep-alive pool: a fetch per request cost the flood more CPU than the
  // broker spent answering it, which on a 2-core machine measured the client, not the broker.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const url = new URL('/v2/events', options.url);
  const post = (i: number) =>
    new Promise<PacedAnswer>((resolve, reject) => {
      const body = Buffer.from(JSON.stringify({ sessionId: options.sessionId, type: 'custom.load', data: { i } }));
      const sent = performance.now();
      const req = http.request(
        url,
        { method: 'POST', agent, headers: { authorization: `Bearer ${options.bearer}`, 'content-type': 'application/json', 'content-length': body.length } },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - sent }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const total = options.perSecond * options.seconds;
  const started = performance.now();
  const answers: Promise<PacedAnswer>[] = [];
  // Sends every request that is due, then looks again a millisecond later.
  while (answers.length < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * options.perSecond) / 1000) + 1);
    while (answers.length < due) answers.push(post(answers.length));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  try {
    return await Promise.all(answers);
  } finally {
    agent.destroy();
  }
}

/** The same writer in a child process; resolves with its answers when it exits. */
export function pacedWritesProcess(options: PacedWriterOptions): Promise<PacedAnswer[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(stdout) as PacedAnswer[]) : reject(new Error(`paced writer exited with ${code}`))));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const answers = await pacedWrites(JSON.parse(process.argv[2]!) as PacedWriterOptions);
  process.stdout.write(JSON.stringify(answers));
}
