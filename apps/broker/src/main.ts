import { serveUntilSignalled } from './serve.js';

await serveUntilSignalled(process.env);
