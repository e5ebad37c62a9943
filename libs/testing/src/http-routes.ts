import type { DynamicModule, Type } from '@nestjs/common';
import { METHOD_METADATA, MODULE_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { RequestMethod } from '@nestjs/common';
import { PUBLIC_ROUTE, REQUIRED_SCOPE } from '@app/auth';

/** One HTTP route of an app and what the API-key guard will ask of it. */
export interface HttpRoute {
  route: string;
  controller: string;
  handler: string;
  public: boolean;
  scope: string | undefined;
}

type ModuleLike = Type<unknown> | DynamicModule;

/**
 * Every HTTP route declared by the controllers of `root` and of the modules it imports
 * (recursively), by reflection, without creating the app: what a test needs to show that no route
 * ships without a `@Public()`/`@RequireScope()` decision. Kafka handlers (no HTTP method) are not routes.
 */
export function httpRoutesOf(root: ModuleLike): HttpRoute[] {
  const controllers = new Set<Type<unknown>>();
  const seen = new Set<unknown>();
  const visit = (entry: unknown): void => {
    if (entry === null || typeof entry !== 'object' && typeof entry !== 'function') return;
    if (seen.has(entry)) return;
    seen.add(entry);
    const dynamic = typeof entry === 'object' ? (entry as DynamicModule) : undefined;
    const moduleClass = dynamic ? dynamic.module : (entry as Type<unknown>);
    if (typeof moduleClass !== 'function') return;
    const staticControllers = (Reflect.getMetadata(MODULE_METADATA.CONTROLLERS, moduleClass) ?? []) as Type<unknown>[];
    const staticImports = (Reflect.getMetadata(MODULE_METADATA.IMPORTS, moduleClass) ?? []) as unknown[];
    for (const c of [...staticControllers, ...(dynamic?.controllers ?? [])]) controllers.add(c);
    for (const i of [...staticImports, ...(dynamic?.imports ?? [])]) visit(i);
  };
  visit(root);
  const routes: HttpRoute[] = [];
  for (const controller of controllers) {
    const base = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
    for (const name of Object.getOwnPropertyNames(controller.prototype)) {
      if (name === 'constructor') continue;
      const handler = (controller.prototype as Record<string, unknown>)[name];
      if (typeof handler !== 'function') continue;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
      if (method === undefined || path === undefined) continue;
      const read = (key: string): unknown => Reflect.getMetadata(key, handler) ?? Reflect.getMetadata(key, controller);
      routes.push({
        route: `${RequestMethod[method]} /${[base, path].map((p) => p.replace(/^\/|\/$/g, '')).filter(Boolean).join('/')}`,
        controller: controller.name,
        handler: name,
        public: read(PUBLIC_ROUTE) === true,
        scope: read(REQUIRED_SCOPE) as string | undefined,
      });
    }
  }
  return routes;
}
