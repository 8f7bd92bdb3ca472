// Types of demo/web/serve.mjs (for the TypeScript tests that start it in-process).

export interface DemoServerDirs {
  floatModelDir: string;
  int8ModelDir: string;
  samplesDir: string;
}

export interface DemoServerOptions extends Partial<DemoServerDirs> {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Called with one line per request ("200 /path"). */
  log?: (line: string) => void;
}

export interface DemoServer {
  /** http://127.0.0.1:<port>/ */
  url: string;
  port: number;
  dirs: DemoServerDirs;
  close(): Promise<void>;
}

export function defaultCacheRoot(): string;
export function defaultModelDirs(): {floatModelDir: string; int8ModelDir: string};
export function startDemoServer(options?: DemoServerOptions): Promise<DemoServer>;
