/**
 * `npm run client:generate`: writes the broker's OpenAPI document to libs/client/openapi.json and
 * the client's types generated from it (test/openapi.test.ts fails while either is stale).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLIENT_TYPES_FILE, generateClientFiles, OPENAPI_FILE } from './client-types.js';

const { document, types } = await generateClientFiles();
await writeFile(OPENAPI_FILE, document);
await writeFile(CLIENT_TYPES_FILE, types);
console.log(`wrote ${path.relative(process.cwd(), OPENAPI_FILE)} and ${path.relative(process.cwd(), CLIENT_TYPES_FILE)}`);
