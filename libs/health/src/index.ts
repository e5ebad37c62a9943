export { DEPENDENCY_PROBES, dependencyProbes, type DependencyProbe } from './dependency-probe.js';
export { DatabaseProbe } from './database.probe.js';
export { KafkaConsumersProbe } from './kafka-consumers.probe.js';
export { HealthController } from './health.controller.js';
