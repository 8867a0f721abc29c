import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { plainToInstance, type ClassConstructor } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ApiError } from './api-error.js';

const VALIDATOR_OPTIONS = { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true } as const;
/** Upstream ark-broker ignores fields it does not know; its drop-in routes must too. */
const LENIENT_OPTIONS = { whitelist: true, forbidNonWhitelisted: false, forbidUnknownValues: true } as const;
/** Checks the declared fields and leaves the rest alone (bodies stored as posted). */
const PASSTHROUGH_OPTIONS = { whitelist: false, forbidUnknownValues: true } as const;
const MODES = { strict: VALIDATOR_OPTIONS, lenient: LENIENT_OPTIONS, passthrough: PASSTHROUGH_OPTIONS };

function describe(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((m) => (prefix ? `${prefix}.${m}` : m));
    return [...own, ...describe(e.children ?? [], path)];
  });
}

/** Native (`/v2`) routes: DTOs are validated at the edge; unknown fields are an error, not silently dropped. */
export function apiValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    ...VALIDATOR_OPTIONS,
    transform: true,
    exceptionFactory: (errors) => ApiError.badRequest(describe(errors).join('; '), 'validation_failed'),
  });
}

/** Upstream-compatible routes: the same validation, but unknown fields are dropped as upstream does. */
export function compatValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    ...LENIENT_OPTIONS,
    transform: true,
    exceptionFactory: (errors) => ApiError.badRequest(describe(errors).join('; '), 'validation_failed'),
  });
}

/** Validates a plain value against a DTO class by hand (for bodies that are one object or an array). */
export function validateDto<T extends object>(cls: ClassConstructor<T>, value: unknown, label: string, mode: keyof typeof MODES = 'strict'): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw ApiError.badRequest(`${label} must be a JSON object`, 'validation_failed');
  }
  const dto = plainToInstance(cls, value);
  const errors = validateSync(dto, MODES[mode]);
  if (errors.length > 0) throw ApiError.badRequest(describe(errors, label).join('; '), 'validation_failed');
  return dto;
}
