// The browser demo: classify a photo with MobileNetV2 on cpu, wasm and int8, side by side.
// Plain ESM, no framework. tfjs and this package are loaded as UMD bundles by index.html
// (the `tf` global; this package's exports are `tf.int8`).
//
// URL parameters: ?runs=N (timed runs after the first, default 3),
//                 ?backends=cpu,wasm,int8 (which columns run),
//                 ?int8wasm=path (int8 fetches its WebAssembly module from /dist/int8.wasm via
//                 tf.int8.setWasmPaths instead of using the inlined copy),
//                 ?int8kernels=reference (int8 runs its TypeScript reference kernels, not WebAssembly).
// For tests, `window.int8Demo` exposes classifyPixels / classifyUrl and the last result;
// `document.body.dataset.state` is loading → ready → running → done (or error).
// @ts-check

/** @type {any} */
const tf = /** @type {any} */ (globalThis).tf;

const CLASSES = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
const SIZE = 224;
/** Photos larger than this (longest side) are scaled down by the browser before the model's resize. */
const MAX_DECODE_SIDE = 1024;

const params = new URLSearchParams(location.search);
const RUNS = Math.max(1, Math.min(20, Number(params.get('runs') ?? 3) || 3));
const WANTED = (params.get('backends') ?? 'cpu,wasm,int8').split(',');
const INT8_WASM_MODE = params.get('int8wasm') === 'path' ? 'path' : 'inline';
const INT8_REFERENCE_KERNELS = params.get('int8kernels') === 'reference';
/** The tfjs flag of kernels/impl/wasm_dispatch.ts that switches the int8 WebAssembly kernels. */
const INT8_WASM_FLAG = 'INT8_WASM';

const COLUMNS = [
  {backend: 'cpu', model: 'float', title: 'cpu', detail: 'float32 model · tfjs-backend-cpu'},
  {backend: 'wasm', model: 'float', title: 'wasm', detail: 'float32 model · tfjs-backend-wasm'},
  {backend: 'int8', model: 'int8', title: 'int8', detail: 'int8 model · tfjs-backend-int8'},
].filter(c => WANTED.includes(c.backend));

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const statusEl = $('status');
const cardsEl = $('cards');

/** @param {string} text @param {boolean} [isError] */
function setStatus(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', isError);
}

/** @param {string} state */
function setState(state) {
  document.body.dataset.state = state;
}

/** @type {{float?: any, int8?: any}} */
const models = {};
/** Backends that initialized, by name. */
const available = new Set();
let busy = false;

async function init() {
  if (tf === undefined || tf.int8 === undefined) throw new Error('tfjs or dist/tfjs-backend-int8.min.js did not load (npm run build?)');
  if (INT8_WASM_MODE === 'path') tf.int8.setWasmPaths('/dist/');
  if (INT8_REFERENCE_KERNELS) tf.env().set(INT8_WASM_FLAG, false);
  const wasmScript = /** @type {HTMLScriptElement} */ ($('wasm-script'));
  if (tf.wasm !== undefined && wasmScript.dataset.failed !== '1') {
    tf.wasm.setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  }
  for (const c of COLUMNS) {
    try {
      if (await tf.setBackend(c.backend)) available.add(c.backend);
    } catch (error) {
      console.warn(`backend ${c.backend} did not initialize:`, error);
    }
  }
  await tf.setBackend('cpu');
  const [floatModel, int8Model] = await Promise.all([
    COLUMNS.some(c => c.model === 'float') ? tf.loadLayersModel('/models/float/model.json') : null,
    COLUMNS.some(c => c.model === 'int8') ? tf.loadGraphModel('/models/int8/model.json') : null,
  ]);
  models.float = floatModel ?? undefined;
  models.int8 = int8Model ?? undefined;
  renderCards(null);
  $('footer').textContent =
    `tfjs ${tf.version_core} · int8 kernels: ${int8Kernels()} · ` +
    `${navigator.hardwareConcurrency} logical cores · ${RUNS} timed runs after a first (warm-up) run`;
}

/** Which int8 kernels run: WebAssembly SIMD (and where its module came from) or the TypeScript reference. */
function int8Kernels() {
  let wasm = false;
  try {
    wasm = tf.env().getBool(INT8_WASM_FLAG);
  } catch {
    wasm = false; // a bundle without the WebAssembly kernels
  }
  return wasm ? `WebAssembly SIMD (module ${tf.int8.getWasmPath() ?? 'inlined'})` : 'TypeScript reference';
}

/**
 * RGB bytes → the model input [1, 224, 224, 3] in [0, 1], computed on cpu exactly as the Node
 * side does (src/io/images.ts imageToInputTensor): tensor4d → resizeBilinear → / 255.
 * @param {ArrayLike<number>} rgb @param {number} width @param {number} height
 * @returns {Promise<Float32Array>}
 */
async function preprocess(rgb, width, height) {
  await tf.setBackend('cpu');
  const input = tf.tidy(() => {
    const pixels = tf.tensor4d(Float32Array.from(rgb), [1, height, width, 3], 'float32');
    const resized = height === SIZE && width === SIZE ? pixels : tf.image.resizeBilinear(pixels, [SIZE, SIZE]);
    return tf.div(resized, 255);
  });
  const values = /** @type {Float32Array} */ (await input.data());
  input.dispose();
  return values;
}

/** @param {number[]} times */
function median(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const nextFrame = () => new Promise(resolve => setTimeout(resolve, 0));

/**
 * Runs one column: a first run (weights move to the backend, int8 weight codes get cached),
 * then RUNS timed runs, each until the output values are read.
 * @param {typeof COLUMNS[number]} column @param {Float32Array} input
 */
async function runColumn(column, input) {
  await tf.setBackend(column.backend);
  const model = models[/** @type {'float'|'int8'} */ (column.model)];
  const x = tf.tensor4d(input, [1, SIZE, SIZE, 3]);
  const once = async () => {
    const start = performance.now();
    const y = model.predict(x);
    const values = /** @type {Float32Array} */ (await y.data());
    const ms = performance.now() - start;
    y.dispose();
    return {values, ms};
  };
  try {
    const first = await once();
    const times = [];
    let values = first.values;
    for (let i = 0; i < RUNS; i++) {
      await nextFrame();
      const run = await once();
      times.push(run.ms);
      values = run.values;
    }
    return {
      backend: column.backend, model: column.model,
      values: Array.from(values), firstValues: Array.from(first.values),
      firstMs: first.ms, medianMs: median(times), timesMs: times,
    };
  } finally {
    x.dispose();
  }
}

/** @param {number[]} values */
function ranked(values) {
  return values.map((p, i) => ({label: CLASSES[i] ?? `class ${i}`, index: i, p})).sort((a, b) => b.p - a.p);
}

/** @param {typeof COLUMNS[number]} column @param {any} result */
function cardHtml(column, result) {
  const head = `<h2>${column.title}</h2><div class="model">${column.detail}</div>`;
  if (!available.has(column.backend)) return `${head}<p>not available in this browser</p>`;
  if (result == null) return `${head}<div class="latency">— <small>ms</small></div><div class="first">waiting for a photo</div>`;
  const rows = ranked(result.values).slice(0, 5).map((r, i) =>
    `<div class="row${i === 0 ? ' top1' : ''}"><span>${r.label}</span>` +
    `<span class="bar"><span style="width:${(100 * r.p).toFixed(1)}%"></span></span>` +
    `<span class="p">${(100 * r.p).toFixed(1)}%</span></div>`).join('');
  return `${head}<div class="latency">${result.medianMs.toFixed(result.medianMs < 100 ? 1 : 0)} <small>ms (median)</small></div>` +
    `<div class="first">first run ${result.firstMs.toFixed(0)} ms · ${result.timesMs.length} timed: ` +
    `${Math.min(...result.timesMs).toFixed(0)}–${Math.max(...result.timesMs).toFixed(0)} ms</div>${rows}`;
}

/** @param {Record<string, any> | null} results */
function renderCards(results) {
  cardsEl.innerHTML = COLUMNS.map(c =>
    `<div class="card ${c.backend}${available.has(c.backend) ? '' : ' skipped'}" data-backend="${c.backend}">` +
    `${cardHtml(c, results?.[c.backend])}</div>`).join('');
}

/** @param {Record<string, any>} results */
function renderSummary(results) {
  const int8 = results.int8;
  const floats = ['cpu', 'wasm'].map(b => results[b]).filter(r => r !== undefined);
  if (int8 === undefined || floats.length === 0) {
    $('summary').textContent = '';
    return;
  }
  const top = ranked(int8.values)[0];
  const parts = floats.map(float => {
    const floatTop = ranked(float.values)[0];
    const maxDiff = Math.max(...int8.values.map((/** @type {number} */ v, /** @type {number} */ i) => Math.abs(v - float.values[i])));
    const speed = float.medianMs / int8.medianMs;
    return `vs ${float.backend}: top-1 ${top.index === floatTop.index ? 'agrees' : `differs (${floatTop.label})`}, ` +
      `probabilities within ${(100 * maxDiff).toFixed(1)} points, ` +
      `${speed >= 1 ? `${speed.toFixed(1)}× faster` : `${(1 / speed).toFixed(1)}× slower`}`;
  });
  $('summary').textContent = `int8 ${parts.join('; ')}.`;
}

/** @type {any} */
let lastResult = null;

/**
 * Classifies RGB bytes on every available column.
 * @param {ArrayLike<number>} rgb @param {number} width @param {number} height @param {string} [name]
 */
async function classifyPixels(rgb, width, height, name = 'photo') {
  if (busy) throw new Error('a prediction is already running');
  busy = true;
  setState('running');
  try {
    const input = await preprocess(rgb, width, height);
    /** @type {Record<string, any>} */
    const results = {};
    renderCards(results);
    for (const column of COLUMNS) {
      if (!available.has(column.backend)) continue;
      setStatus(`${name}: running on ${column.backend}…`);
      await nextFrame();
      results[column.backend] = await runColumn(column, input);
      renderCards(results);
    }
    renderSummary(results);
    const top = ranked((results.int8 ?? Object.values(results)[0]).values)[0];
    setStatus(`${name} (${width}×${height}): ${top.label} ${(100 * top.p).toFixed(1)}%`);
    lastResult = {name, width, height, results};
    setState('done');
    return lastResult;
  } catch (error) {
    setStatus(String(/** @type {Error} */ (error)?.stack ?? error), true);
    setState('error');
    throw error;
  } finally {
    busy = false;
  }
}

/**
 * Decodes an image (file, blob) to RGB bytes with the browser's decoder, without color
 * management, and shows it in the drop zone.
 * @param {Blob} blob
 */
async function decode(blob) {
  let bitmap = await createImageBitmap(blob, {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
  const longest = Math.max(bitmap.width, bitmap.height);
  if (longest > MAX_DECODE_SIDE) {
    const scale = MAX_DECODE_SIDE / longest;
    const resizeWidth = Math.round(bitmap.width * scale);
    const resizeHeight = Math.round(bitmap.height * scale);
    bitmap.close();
    bitmap = await createImageBitmap(blob, {colorSpaceConversion: 'none', premultiplyAlpha: 'none', resizeWidth, resizeHeight, resizeQuality: 'high'});
  }
  const {width, height} = bitmap;
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', {willReadFrequently: true}));
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) {
    rgb[q] = rgba[p];
    rgb[q + 1] = rgba[p + 1];
    rgb[q + 2] = rgba[p + 2];
  }
  const preview = /** @type {HTMLCanvasElement} */ ($('preview'));
  const pctx = /** @type {CanvasRenderingContext2D} */ (preview.getContext('2d'));
  const s = Math.min(preview.width / width, preview.height / height);
  pctx.fillStyle = '#fff';
  pctx.fillRect(0, 0, preview.width, preview.height);
  pctx.drawImage(bitmap, (preview.width - width * s) / 2, (preview.height - height * s) / 2, width * s, height * s);
  preview.hidden = false;
  $('drop-text').hidden = true;
  bitmap.close();
  return {rgb, width, height};
}

/** @param {Blob} blob @param {string} name */
async function classifyBlob(blob, name) {
  if (busy) return null;
  setStatus(`decoding ${name}…`);
  let decoded;
  try {
    decoded = await decode(blob);
  } catch (error) {
    setStatus(`cannot decode ${name}: ${/** @type {Error} */ (error).message}`, true);
    return null;
  }
  return classifyPixels(decoded.rgb, decoded.width, decoded.height, name);
}

/** @param {string} url */
async function classifyUrl(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return classifyBlob(await response.blob(), url.split('/').pop() ?? url);
}

function wireInputs() {
  const fileInput = /** @type {HTMLInputElement} */ ($('file'));
  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    if (file !== undefined) void classifyBlob(file, file.name).catch(() => {});
  });
  const drop = $('drop');
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, event => { event.preventDefault(); drop.classList.add('over'); });
  }
  for (const type of ['dragleave', 'drop']) drop.addEventListener(type, () => drop.classList.remove('over'));
  drop.addEventListener('drop', event => {
    event.preventDefault();
    const file = /** @type {DragEvent} */ (event).dataTransfer?.files?.[0];
    if (file !== undefined) void classifyBlob(file, file.name).catch(() => {});
  });
}

async function listSamples() {
  try {
    const response = await fetch('/samples/index.json');
    /** @type {string[]} */
    const names = response.ok ? await response.json() : [];
    const box = $('samples');
    for (const name of names) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = name.replace(/\.(jpe?g|png)$/i, '').replace(/^(gcompris|opencv)-(\w+-)?/, '');
      button.title = name;
      button.addEventListener('click', () => void classifyUrl(`/samples/${name}`).catch(() => {}));
      box.append(button);
    }
  } catch {
    // no samples: picking and dropping still work
  }
}

const ready = (async () => {
  wireInputs();
  void listSamples();
  try {
    await init();
    setStatus(`Ready: ${[...available].join(', ')}. Pick or drop a photo.`);
    setState('ready');
  } catch (error) {
    setStatus(`Could not start: ${/** @type {Error} */ (error).message}\n` +
      'Build the bundle (npm run build) and make the models (node --import tsx demo/web/prepare-models.ts).', true);
    setState('error');
    throw error;
  }
})();

/** @type {any} */ (window).int8Demo = {
  ready,
  classifyPixels,
  classifyUrl,
  get lastResult() { return lastResult; },
  get backends() { return [...available]; },
  get int8WasmMode() { return INT8_WASM_MODE; },
  get int8Kernels() { return int8Kernels(); },
};
