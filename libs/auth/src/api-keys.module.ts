import { Inject, Logger, Module, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiKeyAuthenticator } from './api-key-authenticator.service.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeysController } from './api-keys.controller.js';
import { API_KEYS_OPTIONS, type ApiKeysModuleOptions } from './api-keys.options.js';
import { ApiKeysRepository } from './api-keys.repository.js';
import { ApiKeysService } from './api-keys.service.js';
import { ApiRateLimiter } from './api-rate-limiter.js';

/**
 * API keys for a host app: the global guard on every HTTP route, `/v1/api-keys`, the per-key rate
 * limit. Needs the host's TypeORM `DataSource` (the `api_keys` table: add `API_KEY_MIGRATIONS` to
 * its migrations) and Redis.
 */
@Module({})
export class ApiKeysModule implements OnApplicationBootstrap {
  private readonly logger = new Logger('ApiKeys');

  constructor(
    @Inject(API_KEYS_OPTIONS) private readonly options: ApiKeysModuleOptions,
    private readonly authenticator: ApiKeyAuthenticator,
    private readonly keys: ApiKeysRepository,
  ) {}

  static forRoot(options: ApiKeysModuleOptions): DynamicModule {
    return {
      module: ApiKeysModule,
      controllers: [ApiKeysController],
      providers: [
        { provide: API_KEYS_OPTIONS, useValue: options },
        ApiKeysRepository,
        ApiKeyAuthenticator,
        ApiRateLimiter,
        ApiKeysService,
        { provide: APP_GUARD, useClass: ApiKeyGuard },
      ],
    };
  }

  /**
   * With no key in configuration and none in the database the app still starts (a key can be
   * created with the CLI, which needs only the database), and says once why every call is a 401.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.authenticator.hasBootstrapKeys) return;
    const stored = await this.keys.countActive().catch(() => undefined);
    if (stored === 0) {
      this.logger.warn(
        `no API key: ${this.options.bootstrapKeysVariable} is unset and the database holds none, so every /v1 call is refused (401). ` +
          `Create one with: npm run keys -- create --app ${this.options.app} --name <name> --scopes <scope,…>`,
      );
    }
  }
}
