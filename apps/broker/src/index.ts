export { createBrokerApp, migrateDatabase, resolveDatabase, startBroker, type DatabaseTarget, type RunningBroker } from './bootstrap.js';
export { serveUntilSignalled } from './serve.js';
