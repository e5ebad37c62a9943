import { createServer } from 'node:http';
import { verifyWebhook, WebhookVerificationError } from '@email-loop/nestjs/webhooks';

const secret = process.env.WEBHOOK_SECRET ?? ''; // the whsec_… shown when you registered the endpoint
const seen = new Set<string>(); // in production: a table with a unique key on webhook-id

createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    try {
      // Verify the raw bytes: a body parsed and serialised again would not match the signature.
      const event = verifyWebhook(Buffer.concat(chunks), request.headers, secret);
      const webhookId = String(request.headers['webhook-id']);
      if (!seen.has(webhookId)) {
        seen.add(webhookId);
        console.log(`${event.type} ${event.data.emailId} ${event.data.status}`);
      }
      response.writeHead(204).end(); // answer fast; do slow work afterwards
    } catch (error) {
      response.writeHead(error instanceof WebhookVerificationError ? 400 : 500).end();
    }
  });
}).listen(Number(process.env.PORT ?? 4000), '127.0.0.1');
