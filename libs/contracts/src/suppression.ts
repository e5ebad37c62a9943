import { z } from 'zod';
import { CONTRACT_VERSION, categorySchema, emailAddressSchema } from './email-request.js';

/** Why an address is on the suppression list. */
export const SUPPRESSION_REASONS = ['hard_bounce', 'unsubscribed', 'complaint', 'manual'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/**
 * Kafka payload on `mail.suppressions`, business → mailer: a recipient opted out (or an operator
 * changed the list through the business side). The mailer owns the suppression list and applies
 * these facts to it idempotently (by `eventId`). Without `category` it covers every category.
 */
export const suppressionChangedMessageSchema = z.strictObject({
  version: z.literal(CONTRACT_VERSION),
  eventId: z.uuid(),
  type: z.enum(['suppression.added', 'suppression.removed']),
  address: emailAddressSchema,
  category: categorySchema.optional(),
  reason: z.enum(SUPPRESSION_REASONS),
  /** The email whose unsubscribe link was used, when there was one. */
  emailId: z.uuid().optional(),
  occurredAt: z.iso.datetime({ offset: true }),
});
export type SuppressionChangedMessage = z.infer<typeof suppressionChangedMessageSchema>;
