import { Module, type DynamicModule } from '@nestjs/common';
import { PUBLIC_LISTENER_OPTIONS, PublicListener, type PublicListenerOptions } from './public-listener.js';

/**
 * Provides {@link PublicListener}. Always imported, with `port` undefined when there is no public
 * listener, so `main.ts` wires the gate the same way in both cases.
 */
@Module({})
export class PublicListenerModule {
  static forRoot(options: PublicListenerOptions): DynamicModule {
    return {
      module: PublicListenerModule,
      providers: [{ provide: PUBLIC_LISTENER_OPTIONS, useValue: options }, PublicListener],
      exports: [PublicListener],
    };
  }
}
