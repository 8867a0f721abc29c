import { Body, Controller, Get, Put, UsePipes } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { jsonAnswer } from '../openapi/api-schemas.js';
import { ForbiddenError } from '#ark/errors';
import { apiValidationPipe } from '#ark/http';
import { RetentionPolicy, type EffectiveRetention, type RetentionOverrides } from '#ark/retention';
import { Caller, type CallerIdentity } from '#ark/tenancy';
import { PutRetentionDto } from './retention.dto.js';

/** What `GET`/`PUT /v2/retention` answer: the TTLs in effect for the caller's tenant and what the tenant set itself. */
export interface RetentionAnswer extends EffectiveRetention {
  tenantId: string;
  overrides: RetentionOverrides;
}

/** The caller's tenant's retention (docs/architecture.md#retention): anyone of the tenant reads it, its admins set it. */
@ApiTags('retention (v2)')
@Controller('v2/retention')
@UsePipes(apiValidationPipe())
export class RetentionController {
  constructor(private readonly policy: RetentionPolicy) {}

  @Get()
  @ApiResponse({ status: 200, ...jsonAnswer('Retention', "the tenant's retention") })
  @ApiOperation({ summary: "The visibility TTLs in effect for the caller's tenant, and the overrides it set" })
  async get(@Caller() caller: CallerIdentity): Promise<RetentionAnswer> {
    const [effective, overrides] = await Promise.all([this.policy.effective(caller.tenantId), this.policy.overrides(caller.tenantId)]);
    return { tenantId: caller.tenantId, ...effective, overrides };
  }

  @Put()
  @ApiResponse({ status: 200, ...jsonAnswer('Retention', "the tenant's retention") })
  @ApiOperation({
    summary: "Sets the tenant's own TTLs (admin): new events use them at once on this replica, within 5 s on the others; null or absent: the broker's setting",
  })
  async put(@Caller() caller: CallerIdentity, @Body() body: PutRetentionDto): Promise<RetentionAnswer> {
    if (!caller.roles.includes('admin')) throw new ForbiddenError("setting the tenant's retention needs the admin role");
    const overrides: RetentionOverrides = {
      messageTtlSeconds: body.messageTtlSeconds ?? null,
      eventTtlSeconds: body.eventTtlSeconds ?? null,
      sessionsTtlSeconds: body.sessionsTtlSeconds ?? null,
    };
    const effective = await this.policy.set(caller.tenantId, overrides);
    return { tenantId: caller.tenantId, ...effective, overrides };
  }
}
