import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { Topics, contractTopics, emailRequestedMessageSchema, type EmailRequestedMessage } from '@app/contracts';
import { KafkaEvent, type HandlerOutcome } from '@app/kafka';
import { MailRequestsService } from './mail-requests.service.js';

// `batch: true`: a run of a partition's requests is accepted in one transaction with one enqueue
// per lane (`acceptBatch` is all or nothing in the database, as the transport requires).
const request = { schema: emailRequestedMessageSchema, description: 'email request', createTopics: contractTopics(), batch: true } as const;

/**
 * Consumes `mail.requests.<lane>`, one consumer group per lane so a bulk backlog never holds up
 * transactional mail. Invalid requests go to `<topic>.dlq`.
 */
@Controller()
export class MailRequestsController {
  constructor(private readonly service: MailRequestsService) {}

  @KafkaEvent(Topics.requests.transactional, { ...request, group: 'mailer.requests.transactional', concurrency: 4 })
  acceptTransactional(@Payload() requests: EmailRequestedMessage[]): Promise<HandlerOutcome[]> {
    return this.service.acceptBatch(requests);
  }

  @KafkaEvent(Topics.requests.bulk, { ...request, group: 'mailer.requests.bulk', concurrency: 2 })
  acceptBulk(@Payload() requests: EmailRequestedMessage[]): Promise<HandlerOutcome[]> {
    return this.service.acceptBatch(requests);
  }
}
