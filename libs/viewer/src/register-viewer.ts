import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { ApiError, toErrorAnswer } from '#ark/http';

/** Where the viewer is served. */
export const VIEWER_PATH = '/ui/';

/** The built single-page app: `npm run build` (Vite) writes it beside this module's compiled output. */
export function viewerAssetsDir(): string {
  return fileURLToPath(new URL('../app/', import.meta.url));
}

/**
 * Serves the viewer's static files under /ui/ and sends `/` and `/ui` there. The files need no
 * credentials (they hold no data); the app itself calls the API with the user's.
 */
export async function registerViewer(fastify: FastifyInstance, root = viewerAssetsDir()): Promise<void> {
  const built = existsSync(root);
  fastify.get('/', (_request, reply) => reply.redirect(VIEWER_PATH, 302));
  fastify.get('/ui', (_request, reply) => reply.redirect(VIEWER_PATH, 302));
  if (!built) {
    fastify.get('/ui/*', (request, reply) => {
      const { status, body } = toErrorAnswer(new ApiError(503, 'unavailable', 'the viewer is not built: run `npm run build`'), request);
      return reply.code(status).send(body);
    });
    return;
  }
  await fastify.register(fastifyStatic, {
    root,
    prefix: VIEWER_PATH,
    // Hashed asset names change with content; index.html must be revalidated.
    setHeaders: (reply, path) => void reply.header('cache-control', path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable'),
    cacheControl: false,
  });
}
