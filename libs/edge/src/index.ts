export { applyHttpEdge, type HttpEdgeOptions } from './http-edge.js';
export { PUBLIC_LISTENER_OPTIONS, PublicListener, type PublicListenerOptions } from './public-listener.js';
export { PublicListenerModule } from './public-listener.module.js';
export { listeningUrl } from './listening-url.js';
