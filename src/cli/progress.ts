// A progress bar on stderr: redrawn in place on a terminal, a line per 10% otherwise.

export interface Progress {
  update(done: number, total?: number): void;
  finish(): void;
}

const WIDTH = 28;

export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  const interactive = Boolean(stream.isTTY);
  let lastDecile = -1;
  let lastDrawn = 0;
  let finished = false;
  let lastLine = '';
  const line = (done: number, total?: number): string => {
    if (total === undefined || total <= 0) return `${label}: ${done}`;
    const fraction = Math.min(1, done / total);
    const filled = Math.round(fraction * WIDTH);
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${done}/${total} ${Math.round(fraction * 100)}%`;
  };
  return {
    update(done: number, total?: number) {
      if (finished) return;
      lastLine = line(done, total);
      if (interactive) {
        const now = Date.now();
        if (now - lastDrawn < 50 && total !== undefined && done < total) return;
        lastDrawn = now;
        stream.write(`\r${lastLine}\x1b[K`);
      } else {
        const decile = total === undefined ? done : Math.floor((10 * done) / Math.max(1, total));
        if (decile !== lastDecile) {
          lastDecile = decile;
          stream.write(`${lastLine}\n`);
        }
      }
    },
    finish() {
      if (finished) return;
      finished = true;
      if (interactive && lastLine !== '') stream.write('\n');
    },
  };
}
