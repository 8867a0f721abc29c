import { BrokerProcess } from './broker-process.js';
import { describeEnvironment } from './environment.js';
import { parseOptions, USAGE, type BenchOptions } from './options.js';
import { createBenchDatabase, PostgresServerCpu, type BenchDatabase } from './postgres-server.js';
import { renderSummary, writeReports, type StartedBroker } from './report.js';
import { progress, runScenarioSideBySide, type ScenarioOutcome, type Target } from './runner.js';
import type { Scenario, ScenarioGroup } from './scenario.js';
import { selectScenarios } from './scenarios.js';
import { startEmmett, type EmmettService } from './emmett-service.js';
import { ObservedProcess } from './proc-stats.js';
import { BROKER_LAYOUT, EMMETT_LAYOUT, measureStorage, type StorageSize } from './storage-size.js';
import { runReadSide } from './read-side.js';
import { runTenantIsolation } from './tenant-isolation.js';
import { runCompareReads } from './compare-reads.js';

/**
 * The benchmark harness: starts the broker on a fresh database (unless --url), runs the scenarios
 * against it (and against --baseline-url), prints the median figures and writes bench/RESULTS.md
 * and bench/results/<timestamp>.json.
 */
async function main(): Promise<number> {
  const startedAt = new Date();
  const argv = process.argv.slice(2);
  if (argv[0] === 'read') return runReadSide(argv.slice(1));
  if (argv[0] === 'isolation') return runTenantIsolation(argv.slice(1));
  if (argv[0] === 'compare-reads') return runCompareReads(argv.slice(1));
  let options: BenchOptions;
  let groups: ScenarioGroup[];
  try {
    const parsed = parseOptions(argv, process.env);
    if (parsed === 'help') {
      console.log(USAGE);
      return 0;
    }
    options = parsed;
    groups = selectScenarios(options.only);
  } catch (error) {
    if (!(error instanceof Error)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }

  let database: BenchDatabase | undefined;
  let broker: BrokerProcess | undefined;
  let emmett: EmmettService | undefined;
  // Ctrl-C must not leave a broker running or a database behind.
  const interrupted = () => {
    progress('interrupted: stopping the broker and dropping its database');
    void tearDown(broker, database, emmett).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  try {
    if (!options.url) {
      database = await createBenchDatabase(options.databaseUrl, startedAt);
      progress(`created database ${database.name}; starting the broker`);
      broker = await BrokerProcess.start(database.url);
      progress(`broker pid ${broker.pid} ready at ${broker.url}`);
    }
    if (groups.some((g) => g.runsOn === 'emmett')) {
      emmett = await startEmmett(options.databaseUrl, startedAt);
      progress(`Emmett reference pid ${emmett.process.pid} ready at ${emmett.process.url} on database ${emmett.database.name}`);
    }
    // Only the database of a broker the harness started is known to live on the --database-url server.
    const postgres = broker ? await PostgresServerCpu.locate(options.databaseUrl) : undefined;
    const targets: Target[] = [
      {
        name: 'broker',
        url: options.url ?? broker!.url,
        upstreamOnly: false,
        ...(broker ? { process: broker } : {}),
        ...(postgres ? { postgres } : {}),
        ...(database ? { databaseUrl: database.url } : {}),
      },
      ...(options.baselineUrl
        ? [
            {
              name: 'baseline',
              url: options.baselineUrl,
              upstreamOnly: true,
              ...(options.baselinePid === undefined ? {} : { process: new ObservedProcess(options.baselinePid) }),
            },
          ]
        : []),
      ...(emmett
        ? [
            {
              name: 'emmett',
              url: emmett.process.url,
              upstreamOnly: false,
              process: emmett.process,
              databaseUrl: emmett.database.url,
              ...(postgres ? { postgres } : {}),
            },
          ]
        : []),
    ];
    const environment = await describeEnvironment(startedAt, options.databaseUrl, argv);
    const plan = { durationMs: options.durationSeconds * 1000, runs: options.runs };

    const outcomes: ScenarioOutcome[] = [];
    for (const step of runOrder(groups, targets)) outcomes.push(...(await runScenarioSideBySide(step.group, step.scenario, step.targets, plan)));

    const storage: StorageSize[] = [];
    if (database) storage.push(await measureStorage('broker', database.url, BROKER_LAYOUT));
    if (emmett) storage.push(await measureStorage('emmett', emmett.database.url, EMMETT_LAYOUT));

    let startedBroker: StartedBroker | undefined;
    if (broker && database) {
      const memory = await broker.memory();
      const exit = await broker.stop();
      startedBroker = { database: database.name, memory, exit, logLineCount: broker.logLineCount, logTail: broker.logTail };
    }
    if (emmett) await emmett.process.stop();
    const report = { environment, options, startedBroker, groups, outcomes, storage };
    const files = await writeReports(report);
    console.log(renderSummary(report));
    progress(`wrote ${files.markdown} and ${files.json}`);
    return unhealthy(groups, outcomes, startedBroker) ? 1 : 0;
  } finally {
    process.off('SIGINT', interrupted);
    await tearDown(broker, database, emmett);
  }
}

interface Step {
  group: ScenarioGroup;
  scenario: Scenario;
  /** Measured side by side, runs interleaved (see runScenarioSideBySide). */
  targets: Target[];
}

/**
 * Each scenario on the broker and the baseline together; Emmett's scenarios on the Emmett service,
 * each right after the broker's counterpart, so that all are measured in the same minutes of a
 * machine whose load varies.
 */
function runOrder(groups: readonly ScenarioGroup[], targets: readonly Target[]): Step[] {
  const brokers = targets.filter((t) => t.name !== 'emmett');
  const steps: Step[] = groups
    .filter((g) => g.runsOn !== 'emmett')
    .flatMap((group) => group.scenarios.map((scenario) => ({ group, scenario, targets: brokers })));
  const emmett = targets.find((t) => t.name === 'emmett');
  if (!emmett) return steps;
  for (const group of groups.filter((g) => g.runsOn === 'emmett')) {
    for (const scenario of group.scenarios) {
      const counterpart = steps.findIndex((s) => s.scenario.name === scenario.counterpart);
      steps.splice(counterpart === -1 ? steps.length : counterpart + 1, 0, { group, scenario, targets: [emmett] });
    }
  }
  return steps;
}

async function tearDown(broker: BrokerProcess | undefined, database: BenchDatabase | undefined, emmett: EmmettService | undefined): Promise<void> {
  await Promise.all([broker?.stop(), emmett?.process.stop()]);
  for (const db of [database, emmett?.database]) {
    await db?.drop().catch((error: Error) => progress(`could not drop database ${db.name}: ${error.message}`));
  }
}

/**
 * The broker under test failed a scenario or a check (any non-zero error counter): the figures are
 * then not those of a healthy run. An unclean exit is only warned about: it happens after measuring.
 */
function unhealthy(groups: readonly ScenarioGroup[], outcomes: readonly ScenarioOutcome[], startedBroker: StartedBroker | undefined): boolean {
  const counterKeys = new Set(groups.flatMap((g) => g.metrics.filter((m) => m.aggregate === 'total').map((m) => m.key)));
  const problems = outcomes
    .filter((o) => o.target === 'broker')
    .flatMap((o) => [
      ...(o.error === undefined ? [] : [`${o.scenario} failed: ${o.error}`]),
      ...Object.entries(o.aggregate)
        .filter(([key, value]) => counterKeys.has(key) && value > 0)
        .map(([key, value]) => `${o.scenario}: ${key} = ${value}`),
    ]);
  if (startedBroker && startedBroker.exit.code !== 0) {
    progress(
      `warning: after SIGTERM the broker exited with code ${startedBroker.exit.code}, signal ${startedBroker.exit.signal} (a graceful shutdown exits 0)`,
    );
  }
  for (const problem of problems) progress(`CHECK FAILED: ${problem}`);
  return problems.length > 0;
}

process.exitCode = await main();
