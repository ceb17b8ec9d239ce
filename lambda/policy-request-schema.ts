import { z } from 'zod';
import type { PolicyRequest } from './policy-contract.ts';

/**
 * Validates a request at the function's edge. Lengths are bounded so that a
 * malformed or hostile request costs nothing: SMTP limits a path to 256 octets,
 * and no sane password is longer than 1 KiB (it is hashed, so it must be bounded).
 */
export const MAX_LOGIN_LENGTH = 320;
export const MAX_PASSWORD_LENGTH = 1024;
const address = z.string().min(1).max(MAX_LOGIN_LENGTH);

export const policyRequestSchema: z.ZodType<PolicyRequest> = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('authenticate'),
    login: address,
    password: z.string().max(MAX_PASSWORD_LENGTH),
    clientAddress: z.string().max(64),
  }),
  z.object({
    action: z.literal('authorizeSender'),
    login: address,
    sender: address,
  }),
  z.object({
    action: z.literal('confirmSession'),
    login: address,
    clientAddress: z.string().max(64),
    passwordSetAt: z.string().max(64),
  }),
]);
