import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { Topics, contractTopics, suppressionChangedMessageSchema, type SuppressionChangedMessage } from '@app/contracts';
import { KafkaEvent, type HandlerOutcome } from '@app/kafka';
import { SuppressionsService } from './suppressions.service.js';

/**
 * Consumes `mail.suppressions` (the business side's unsubscribes and list changes), a run of a
 * partition's messages per transaction (`applyChanges` is all or nothing, as the transport
 * requires). Invalid messages go to `mail.suppressions.dlq`.
 */
@Controller()
export class SuppressionChangesController {
  constructor(private readonly suppressions: SuppressionsService) {}

  @KafkaEvent(Topics.suppressions, {
    group: 'mailer.suppressions',
    schema: suppressionChangedMessageSchema,
    description: 'suppression change',
    createTopics: contractTopics(),
    batch: true,
  })
  apply(@Payload() changes: SuppressionChangedMessage[]): Promise<HandlerOutcome[]> {
    return this.suppressions.applyChanges(changes);
  }
}
