import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import {
  Topics,
  contractTopics,
  mailRequestsTopicMessageSchema,
  type EmailCancelRequestedMessage,
  type EmailRequestedMessage,
  type MailRequestsTopicMessage,
} from '@app/contracts';
import { KafkaEvent, type HandlerOutcome } from '@app/kafka';
import { MailCancelsService } from './mail-cancels.service.js';
import { MailRequestsService } from './mail-requests.service.js';

// `batch: true`: a run of a partition's requests is accepted in one transaction with one enqueue
// per lane (`acceptBatch` is all or nothing in the database, as the transport requires).
const request = { schema: mailRequestsTopicMessageSchema, description: 'email request', createTopics: contractTopics(), batch: true } as const;

/**
 * Consumes `mail.requests.<lane>`, one consumer group per lane so a bulk backlog never holds up
 * transactional mail. Invalid requests go to `<topic>.dlq`.
 *
 * A lane topic carries requests and, rarely, cancels of them (`email.cancel_requested`, same key).
 * A run's requests are recorded first, then its cancels applied, in one transaction and before
 * any send job is made (`MailRequestsService.acceptRun`): a cancel always follows its request in
 * the partition, so this order is the partition's order for every email, and a cancel in the same
 * run as its request wins.
 */
@Controller()
export class MailRequestsController {
  constructor(
    private readonly service: MailRequestsService,
    private readonly cancels: MailCancelsService,
  ) {}

  @KafkaEvent(Topics.requests.transactional, { ...request, group: 'mailer.requests.transactional', concurrency: 4 })
  acceptTransactional(@Payload() messages: MailRequestsTopicMessage[]): Promise<HandlerOutcome[]> {
    return this.handle(messages);
  }

  @KafkaEvent(Topics.requests.bulk, { ...request, group: 'mailer.requests.bulk', concurrency: 2 })
  acceptBulk(@Payload() messages: MailRequestsTopicMessage[]): Promise<HandlerOutcome[]> {
    return this.handle(messages);
  }

  /** One outcome per message, in the messages' order. */
  private async handle(messages: readonly MailRequestsTopicMessage[]): Promise<HandlerOutcome[]> {
    const requests = messages.filter((m): m is EmailRequestedMessage => m.type === 'email.requested');
    // The common run has no cancel: it goes to `acceptBatch` as it came.
    if (requests.length === messages.length) return this.service.acceptBatch(requests);
    const cancels = messages.filter((m): m is EmailCancelRequestedMessage => m.type === 'email.cancel_requested');
    if (requests.length === 0) return this.cancels.cancelBatch(cancels);
    const { requests: requestOutcomes, cancels: cancelOutcomes } = await this.service.acceptRun(requests, cancels);
    let r = 0;
    let c = 0;
    return messages.map((m) => (m.type === 'email.requested' ? requestOutcomes[r++]! : cancelOutcomes[c++]!));
  }
}
