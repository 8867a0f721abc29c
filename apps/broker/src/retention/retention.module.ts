import { Module } from '@nestjs/common';
import { RetentionController } from './retention.controller.js';

/** `/v2/retention`: a tenant's own retention (the policy itself is the retention library's). */
@Module({ controllers: [RetentionController] })
export class RetentionApiModule {}
