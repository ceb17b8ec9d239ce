import { z } from 'zod';
import type { PolicyRequest } from './policy-contract.ts';

/**
 * Validates a request at the function's edge. Lengths are bounded so that a
 * malformed or hostile request costs nothing: SMTP limits a path to 256 octets,
 * and no sane password is longer than 1 KiB (it is hashed, so it must be bounded).
 */
const address = z.string().min(1).max(320);

export const policyRequestSchema: z.ZodType<PolicyRequest> = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('authenticate'),
    login: address,
    password: z.string().max(1024),
    clientAddress: z.string().max(64),
  }),
  z.object({
    action: z.literal('authorizeSender'),
    login: address,
    sender: address,
  }),
]);
