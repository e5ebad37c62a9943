export function portOpen(port: number, host?: string): Promise<boolean>;
export function brokerPid(dir: string): number | null;
export function resolveKafkaJars(log?: (message: string) => void): void;
export function startBroker(options: {
  dir: string;
  port: number;
  controllerPort: number;
  detached?: boolean;
  heapMb?: number;
}): Promise<number>;
export function stopBroker(dir: string, signal?: NodeJS.Signals): Promise<boolean>;
