// Turning tfjs's errors from running a graph into messages that name the node.

import type {ModelGraph} from './model_graph';

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Rewrites tfjs's "op not supported" error to name the node(s) with that op; prefixes others with `context`. */
export function explainRunError(error: unknown, graph: ModelGraph | undefined, context: string): Error {
  const text = message(error);
  const unsupported = /Op is not supported: (\S+)/.exec(text) ?? /Unknown op '([^']+)'/.exec(text) ??
    /is not yet registered for op ['"]?([^'".\s]+)/.exec(text);
  if (unsupported != null && graph !== undefined) {
    const nodes = graph.nodes.filter(n => n.op === unsupported[1]).map(n => `'${n.name}'`);
    if (nodes.length > 0) {
      return new Error(`${context}: node ${nodes.slice(0, 3).join(', ')}${nodes.length > 3 ? ' ...' : ''} has op ` +
          `'${unsupported[1]}', which TensorFlow.js cannot run (unknown op; register an executor with tf.registerOp)`);
    }
  }
  return new Error(`${context}: running the model failed: ${text}`);
}
