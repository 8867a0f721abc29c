import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Caller, readScopeOf, type CallerIdentity } from '#ark/tenancy';
import { BrokerMcpService } from './broker-mcp.service.js';

/**
 * `/mcp`: the MCP Streamable HTTP endpoint, stateless (each POST is answered on its own, as JSON),
 * so any replica answers any call. Out of the OpenAPI document: its protocol is MCP's (docs/mcp.md).
 */
@ApiExcludeController()
@Controller('mcp')
export class McpController {
  constructor(private readonly mcp: BrokerMcpService) {}

  @Post()
  async call(@Caller() caller: CallerIdentity, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const server = this.mcp.serverFor(readScopeOf(caller));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    reply.hijack();
    reply.raw.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(request.raw, reply.raw, request.body);
  }

  /** No server-initiated stream without sessions: 405, which MCP clients take as "none". */
  @Get()
  stream(@Res() reply: FastifyReply): void {
    void reply
      .code(405)
      .header('allow', 'POST')
      .send({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP server is stateless (POST only)' }, id: null });
  }
}
