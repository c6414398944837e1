// bench/npy.js — .npy files as onnxruntime-node tensors, for models.js and
// ort_cpu.js. C-order, little-endian; the dtypes the exported models take:
// f32 images, int64 token ids and masks (ConvBERT), int32, bool.
'use strict';
const fs = require('fs');

const DTYPES = {            // numpy descr -> [ORT tensor type, typed array]
  '<f4': ['float32', Float32Array],
  '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array],
  '|b1': ['bool', Uint8Array],
};

function readNpy(ort, file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY')
    throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + hlen);
  const descr = (header.match(/'descr':\s*'([^']*)'/) || [])[1];
  if (!DTYPES[descr] || /'fortran_order':\s*True/.test(header))
    throw new Error(`${file}: dtype ${descr}, fortran order ${/True/.test(header)}: `
                    + `only C-order ${Object.keys(DTYPES).join(', ')} inputs`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',')
    .map((s) => s.trim()).filter((s) => s).map(Number);
  const [type, Arr] = DTYPES[descr];
  // Copy into a fresh buffer: the data offset need not be aligned for Arr.
  const bytes = buf.subarray(start + hlen);
  const data = new Arr(bytes.length / Arr.BYTES_PER_ELEMENT);
  new Uint8Array(data.buffer).set(bytes);
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count)
    throw new Error(`${file}: ${data.length} elements for shape [${shape}]`);
  return new ort.Tensor(type, data, shape);
}

// The feeds of session `s` from tensors in graph-input order; the count must match.
function feedsFor(s, tensors, what) {
  if (s.inputNames.length !== tensors.length)
    throw new Error(`the model takes ${s.inputNames.length} inputs (${s.inputNames.join(', ')}); `
                    + `${what} gives ${tensors.length}`);
  return Object.fromEntries(s.inputNames.map((n, k) => [n, tensors[k]]));
}

module.exports = { readNpy, feedsFor };
