// The pinned list of models: which npm package and version each comes from, the tarball's
// sha512 integrity (as `npm view <pkg>@<version> dist.integrity` reports it), how to turn the
// package's files into a plain model.json + .bin files, and the sha256 of every file we keep.

import {readFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';

export const MANIFEST_PATH = fileURLToPath(new URL('./manifest.json', import.meta.url));

export interface PinnedPackage {
  version: string;
  /** Subresource-integrity string, `sha512-<base64>`. */
  integrity: string;
  tarballBytes: number;
  license: string;
}

/** Where a model's files sit in the package and how they are stored there. */
export interface ModelSource {
  /**
   * `files`: a model.json and .bin shards stored as they are.
   * `browserify-umd`: model.json and shards wrapped in browserify UMD `.min.js` modules.
   */
  format: 'files' | 'browserify-umd';
  /** Path of the model.json (or its wrapper) inside the tarball, e.g. `package/models/posenet.json`. */
  modelJson: string;
  /** Paths of the weight shards (or their wrappers) inside the tarball, in manifest order. */
  weights: string[];
}

export interface PinnedFile {
  bytes: number;
  sha256: string;
}

export interface PinnedModel {
  package: string;
  kind: 'graph-model' | 'layers-model';
  description: string;
  source: ModelSource;
  /** Files kept in the cache (`model.json` and its shards), by file name. */
  files: {[fileName: string]: PinnedFile};
}

export interface ModelManifest {
  packages: {[packageName: string]: PinnedPackage};
  models: {[modelName: string]: PinnedModel};
}

function assertManifestShape(manifest: ModelManifest): void {
  for (const [name, model] of Object.entries(manifest.models)) {
    if (manifest.packages[model.package] === undefined) {
      throw new Error(`${MANIFEST_PATH}: model "${name}" names package "${model.package}", which is not pinned`);
    }
    if (model.kind !== 'graph-model' && model.kind !== 'layers-model') {
      throw new Error(`${MANIFEST_PATH}: model "${name}" has unknown kind "${String(model.kind)}"`);
    }
  }
  for (const [name, pinned] of Object.entries(manifest.packages)) {
    if (!/^sha512-[A-Za-z0-9+/]{86}==$/.test(pinned.integrity)) {
      throw new Error(`${MANIFEST_PATH}: package "${name}" needs a sha512 integrity (npm view ${name}@${pinned.version} dist.integrity)`);
    }
  }
}

/** Reads and checks models/manifest.json. */
export function readManifest(): ModelManifest {
  let manifest: ModelManifest;
  try {
    manifest = JSON.parse(readFileSync(MANIFEST_PATH, 'utf8')) as ModelManifest;
  } catch (error) {
    throw new Error(`cannot read the model manifest ${MANIFEST_PATH}: ${(error as Error).message}`);
  }
  assertManifestShape(manifest);
  return manifest;
}

/** The pinned entry of one model, or an error listing the known names. */
export function pinnedModel(manifest: ModelManifest, name: string): PinnedModel {
  const model = manifest.models[name];
  if (model === undefined) {
    const known = Object.keys(manifest.models).join(', ');
    throw new Error(`unknown model "${name}" (not in ${MANIFEST_PATH}); known models: ${known}`);
  }
  return model;
}
