import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AppendedEvent } from '#ark/event-store';
import { InvalidArgumentError } from '#ark/errors';
import { Caller, type CallerIdentity } from '#ark/tenancy';
import { RecordA2aUpdatesCommand } from './record-a2a-updates.command.js';

const MAX_UPDATES_PER_REQUEST = 1_000;

/** A2A task updates from the remote agents of Ark's queries (their push notifications point here). */
@ApiTags('a2a (v2)')
@Controller('v2/queries')
export class A2aController {
  constructor(private readonly commands: CommandBus) {}

  @Post(':queryId/a2a')
  @HttpCode(201)
  @ApiOperation({
    summary:
      'Record A2A task updates of a query (by UID or name) in its session, as the A2A protocol sends them: a StreamResponse (`{task}`, `{statusUpdate}`, `{artifactUpdate}`), a v0.3 object of kind `task` / `status-update` / `artifact-update`, a JSON-RPC response carrying one, or an array; 201 once committed',
  })
  @ApiBody({ schema: { oneOf: [{ type: 'object' }, { type: 'array', items: { type: 'object' } }] } })
  async record(@Caller() caller: CallerIdentity, @Param('queryId') queryId: string, @Body() body: unknown): Promise<{ items: AppendedEvent[] }> {
    const list = Array.isArray(body) ? body : [body];
    if (list.length === 0) throw new InvalidArgumentError('no updates given');
    if (list.length > MAX_UPDATES_PER_REQUEST) throw new InvalidArgumentError(`at most ${MAX_UPDATES_PER_REQUEST} updates per request`);
    return { items: await this.commands.execute(new RecordA2aUpdatesCommand(caller, queryId, list)) };
  }
}
