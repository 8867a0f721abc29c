import { Module } from '@nestjs/common';
import { SessionsV2Module } from '../sessions-v2/sessions-v2.module.js';
import { BrokerMcpService } from './broker-mcp.service.js';
import { McpController } from './mcp.controller.js';

/** The MCP server over the broker's data (`/mcp`, docs/mcp.md). */
@Module({
  imports: [SessionsV2Module],
  controllers: [McpController],
  providers: [BrokerMcpService],
})
export class McpModule {}
