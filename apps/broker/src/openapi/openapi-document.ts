import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { BROKER_VERSION } from '#ark/config';
import { API_SCHEMAS, schemaRef } from './api-schemas.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/**
 * The broker's OpenAPI document (`GET /openapi.json`): the controllers' routes and DTOs, the answer
 * schemas of api-schemas.ts, bearer authentication, and on every operation the error body as its
 * `4XX`/`5XX` answers. libs/client's types are generated from it (`npm run client:generate`).
 */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Ark Broker')
      .setDescription('Durable, real-time event broker for Ark: the upstream ark-broker wire API and the native /v2 API.')
      .setVersion(BROKER_VERSION)
      .setLicense('Apache-2.0', 'https://www.apache.org/licenses/LICENSE-2.0')
      .addServer('/', 'the broker this document came from')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'a JWT (AUTH_MODE=jwt) or an API key (`ark-broker keys create`)' }, 'bearer')
      .addSecurityRequirements('bearer')
      .build(),
  );
  document.components = { ...document.components, schemas: { ...document.components?.schemas, ...API_SCHEMAS } };
  const error = { description: 'the error body (docs/api.md#errors)', content: { 'application/json': { schema: schemaRef('ErrorBody') } } };
  for (const item of Object.values(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      for (const [status, answer] of Object.entries(operation.responses)) {
        // Nest leaves an undecorated route's answer bare: the upstream routes answer JSON objects.
        if (answer && status.startsWith('2') && !('$ref' in answer) && !answer.content) {
          operation.responses[status] = {
            description: answer.description || 'the answer',
            content: { 'application/json': { schema: schemaRef('UpstreamBody') } },
          };
        }
      }
      operation.responses = { ...operation.responses, '4XX': error, '5XX': error };
    }
  }
  return document;
}
