#!/usr/bin/env node
import { QueryExecutor } from '#ark/executor-sdk';
import { hostname } from 'node:os';
import { runChatCompletion } from './chat-completion.js';

/**
 * A sample query executor (docs/executors.md): claims the queries of its namespaces from the broker
 * and answers each with one streamed chat completion from any OpenAI-compatible endpoint.
 *
 *   BROKER_URL, BROKER_TOKEN          the broker (comma-separated: replicas, tried in turn when one is
 *                                     unreachable), and an API key bound to the namespaces to serve
 *   EXECUTOR_ID                       default: <hostname>-<pid>
 *   EXECUTOR_NAMESPACES               comma-separated; default: all the token may serve
 *   EXECUTOR_CONCURRENCY, EXECUTOR_LEASE_SECONDS, EXECUTOR_WAIT_SECONDS
 *   OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_MODEL
 */
const env = process.env;
const number = (name: string, fallback: number) => {
  const value = env[name] === undefined ? fallback : Number(env[name]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
};

const endpoint = { baseUrl: env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1', apiKey: env.OPENAI_API_KEY, model: env.OPENAI_MODEL ?? 'gpt-4o-mini' };
const executor = new QueryExecutor(
  {
    url: (env.BROKER_URL ?? 'http://localhost:8080').split(',').map((u) => u.trim()),
    token: env.BROKER_TOKEN,
    executorId: env.EXECUTOR_ID ?? `${hostname()}-${process.pid}`,
    namespaces: env.EXECUTOR_NAMESPACES ? env.EXECUTOR_NAMESPACES.split(',').map((n) => n.trim()) : undefined,
    concurrency: number('EXECUTOR_CONCURRENCY', 4),
    leaseSeconds: number('EXECUTOR_LEASE_SECONDS', 30),
    waitSeconds: number('EXECUTOR_WAIT_SECONDS', 20),
    log: (message) => console.error(message),
  },
  async (context) => {
    await context.emitEvent('QueryExecutionStart', `executing ${context.query.name}`);
    const answer = await runChatCompletion(endpoint, context);
    await context.emitEvent('QueryExecutionComplete', `executed ${context.query.name}`, { response: answer.content });
    return answer;
  },
);

executor.start();
console.error(`executor started (model ${endpoint.model} at ${endpoint.baseUrl})`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void executor.stop().then(() => process.exit(0));
  });
}
