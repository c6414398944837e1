// bench/models.js — one model, side by side in one run: ONNX Runtime
// (onnxruntime-node, CPU, all graph optimizations) at 1 and 2 intra-op
// threads, PyTorch eager at 1 and 2 threads (--torch), kiln's compiled
// executables (each at the thread counts given), and kiln's interpreter at
// 1 and 2 threads (unless --no-interp). Rounds interleave every
// configuration (the machine is shared, so load drifts); each figure is the
// median over the rounds of one warm run's latency, best beside it.
//
//   cd bench && npm install --ignore-scripts onnxruntime-node@1.30.0
//   node models.js [--torch DIR] [--no-interp] [--cpu] MODEL.onnx INPUTS EXES [ROUNDS] [KILN]
//
// INPUTS is one .npy per graph input, comma-separated in graph-input order
// (input_0.npy,input_1.npy for ConvBERT's int64 token ids and mask); f32,
// int64, int32 or bool (npy.js).
// EXES is `kiln compile MODEL -o EXE`: a bare PATH (the C backend's), or a
// list LABEL=PATH[@T],... where @T runs it with `--threads T` (a model
// compiled with `--threads N` takes T <= N). Each runs once, then --bench 1
// times one more run: that second, warm run is what counts.
// --torch DIR: PyTorch eager through bench/torch_run.py on the model
// export_big.py wrote to DIR (torch_state.pt beside model.onnx); one python
// process per thread count, OPENBLAS_NUM_THREADS and OMP_NUM_THREADS set.
// --cpu: also CPU time per run (all threads), less sensitive to other
// processes than the wall clock: ORT and PyTorch around the timed run;
// kiln's executables afterwards, by `perf stat -e task-clock` of --bench 11
// minus --bench 1 (min of 3 each), divided by 10.
// --json FILE: also write the table as JSON (bench/all_models.sh combines them).
// KILN is the kiln binary for the interpreter (default ../build/kiln).
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { spawn, spawnSync } = require('child_process');
const ort = require('onnxruntime-node');
const { readNpy, feedsFor } = require('./npy.js');

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const best = (a) => Math.min(...a);

// "NAME: 1 runs, mean 12.345 ms, best 12.345 ms" -> 12.345
function kilnTime(out) {
  const m = out.match(/best ([0-9.]+) ms/);
  if (!m) throw new Error(`no timing in kiln output:\n${out}`);
  return Number(m[1]);
}

// ['-i', a.npy, '-i', b.npy, ...]: the inputs bind in graph-input order.
const inputArgs = (inputs) => inputs.flatMap((f) => ['-i', f]);

function runExe(exe, inputs, threads, bench = 1) {
  const args = [...inputArgs(inputs), '--bench', String(bench)];
  if (threads) args.push('--threads', String(threads));
  const r = spawnSync(exe, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${exe} ${args.join(' ')} failed:\n${r.stderr}`);
  return kilnTime(r.stderr + r.stdout);
}

function runInterp(kiln, model, inputs, threads) {
  const r = spawnSync(kiln, ['run', model, ...inputArgs(inputs), '--threads', String(threads), '--bench', '1'],
                      { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`kiln run failed:\n${r.stderr}`);
  return kilnTime(r.stderr + r.stdout);
}

// CPU ms (all threads) of one warm run of a kiln executable: task-clock of
// --bench 11 minus --bench 1, each the min of 3, over 10.
function exeCpu(exe, inputs, threads) {
  const clock = (n) => {
    let low = Infinity;
    for (let k = 0; k < 3; k++) {
      const args = ['stat', '-x,', '-e', 'task-clock', exe, ...inputArgs(inputs), '--bench', String(n)];
      if (threads) args.push('--threads', String(threads));
      const r = spawnSync('perf', args, { encoding: 'utf8' });
      const m = r.status === 0 && r.stderr.match(/^([0-9.]+),msec,task-clock/m);
      if (!m) throw new Error(`perf ${args.join(' ')} failed:\n${r.stderr}`);
      low = Math.min(low, Number(m[1]));
    }
    return low;
  };
  return (clock(11) - clock(1)) / 10;
}

// ONNX Runtime computes what the exporter recorded: when MODEL's directory
// holds output_<k>.npy (export_big.py), each graph output must match it
// within the atol / rtol of ../manifest.json (default 1e-4 / 1e-3), the
// rule of bench/check_outputs.py; else nothing is checked.
function checkOrt(model, session, result, threads) {
  const dir = path.dirname(model);
  let atol = 1e-4, rtol = 1e-3;
  try {
    const name = path.basename(dir);
    const e = JSON.parse(fs.readFileSync(path.join(dir, '..', 'manifest.json'), 'utf8'))
      .samples.find((x) => x.name === name);
    if (e) ({ atol, rtol } = e);
  } catch (err) { /* no manifest: the defaults */ }
  session.outputNames.forEach((name, k) => {
    const file = path.join(dir, `output_${k}.npy`);
    if (!fs.existsSync(file)) return;
    const want = readNpy(ort, file).data, got = result[name].data;
    if (got.length !== want.length)
      throw new Error(`ONNX Runtime (${plural(threads)}): ${name} has ${got.length} elements, ${file} ${want.length}`);
    for (let i = 0; i < got.length; i++) {
      const g = Number(got[i]), w = Number(want[i]);
      if (!(Math.abs(g - w) <= atol + rtol * Math.abs(w)))
        throw new Error(`ONNX Runtime (${plural(threads)}): ${name} element ${i} is ${g}, ${file} has ${w} `
                        + `(atol ${atol}, rtol ${rtol})`);
    }
  });
}

// A PyTorch eager process (torch_run.py) at `threads` threads: run() times
// one warm forward pass and resolves to [wall ms, CPU ms].
async function torchRunner(dir, threads) {
  // OMP_WAIT_POLICY=PASSIVE: idle OpenMP workers sleep instead of spinning
  // (as ORT's allow_spinning 0 below); spinning workers on a shared machine
  // made the 2-thread runs 10x slower.
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads),
                OMP_WAIT_POLICY: 'PASSIVE' };
  const py = spawn('/usr/bin/python3', [path.join(__dirname, 'torch_run.py'), dir, String(threads)],
                   { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: py.stdout });
  const waiting = [];
  let exited = null;
  lines.on('line', (l) => { const w = waiting.shift(); if (w) w.resolve(l); });
  py.on('exit', (code) => {
    exited = new Error(`torch_run.py (${threads} threads) exited ${code}`);
    while (waiting.length) waiting.shift().reject(exited);
  });
  const next = () => new Promise((resolve, reject) => {
    if (exited) reject(exited);
    else waiting.push({ resolve, reject });
  });
  const ready = await next();
  if (ready !== 'ready') throw new Error(`torch_run.py: ${ready}`);
  return {
    async run() {
      py.stdin.write('run\n');
      const [, wall, cpu] = (await next()).split(' ');
      return [Number(wall), Number(cpu)];
    },
    close() { py.stdin.end(); },
  };
}

function parseArgs(argv) {
  const o = { torch: null, interp: true, cpu: false, json: null, pos: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--torch') o.torch = argv[++i];
    else if (argv[i] === '--no-interp') o.interp = false;
    else if (argv[i] === '--cpu') o.cpu = true;
    else if (argv[i] === '--json') o.json = argv[++i];
    else o.pos.push(argv[i]);
  }
  return o;
}

const plural = (t) => `${t} thread${t > 1 ? 's' : ''}`;

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const [model, inputList, exe, roundsArg, kilnArg] = o.pos;
  if (!model || !inputList || !exe || o.torch === undefined || o.json === undefined) {
    console.error('usage: node models.js [--torch DIR] [--no-interp] [--cpu] [--json FILE] MODEL.onnx INPUTS '
                  + 'EXES [ROUNDS] [KILN]');
    process.exit(2);
  }
  const rounds = Number(roundsArg || 20);
  const kiln = kilnArg || path.join(__dirname, '..', 'build', 'kiln');
  const inputs = inputList.split(',');
  const xs = inputs.map((f) => readNpy(ort, f));
  const sessions = {};
  for (const t of [1, 2]) {
    sessions[t] = await ort.InferenceSession.create(model, {
      intraOpNumThreads: t, interOpNumThreads: 1, graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      // No spinning pool threads: they would steal the core from the next
      // configuration timed in the same round (kiln runs in a child process).
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
  }
  const feeds = (s) => feedsFor(s, xs, `INPUTS (${inputList})`);
  for (const t of [1, 2]) {                    // warm-up; the first run is checked
    checkOrt(model, sessions[t], await sessions[t].run(feeds(sessions[t])), t);
    for (let i = 0; i < 2; i++) await sessions[t].run(feeds(sessions[t]));
  }
  const torch = {};
  if (o.torch)
    for (const t of [1, 2]) torch[t] = await torchRunner(o.torch, t);
  // LABEL=PATH[@T],...; a bare PATH is the C backend's at its default threads.
  const exes = exe.split(',').map((e) => {
    const [label, file] = e.includes('=') ? e.split('=') : ['C backend', e];
    const m = file.match(/^(.*)@([0-9]+)$/);
    return m ? { label, file: m[1], threads: Number(m[2]) } : { label, file, threads: 0 };
  });
  const exeName = (e) => `kiln compiled (${e.label})${e.threads ? `, ${plural(e.threads)}` : ''}`;
  const cols = {}, cpu = {};
  const add = (name, v, c) => {
    (cols[name] ||= []).push(v);
    if (c !== undefined) (cpu[name] ||= []).push(c);
  };
  for (let r = 0; r < rounds; r++) {
    for (const t of [1, 2]) {
      // One untimed run first, as kiln's configurations time their second,
      // warm run: the other processes of the round evict the weights.
      await sessions[t].run(feeds(sessions[t]));
      const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
      await sessions[t].run(feeds(sessions[t]));
      const wall = Number(process.hrtime.bigint() - t0) / 1e6, c = process.cpuUsage(c0);
      add(`ONNX Runtime, ${plural(t)}`, wall, (c.user + c.system) / 1e3);
    }
    for (const t of Object.keys(torch).map(Number)) {
      const [wall, c] = await torch[t].run();
      add(`PyTorch eager, ${plural(t)}`, wall, c);
    }
    for (const e of exes)
      add(exeName(e), runExe(e.file, inputs, e.threads));
    if (o.interp)
      for (const t of [1, 2])
        add(`kiln interpreter, ${plural(t)}`, runInterp(kiln, model, inputs, t));
    process.stderr.write(`round ${r + 1}/${rounds}\r`);
  }
  for (const t of Object.keys(torch)) torch[t].close();
  if (o.cpu)
    for (const e of exes)
      cpu[exeName(e)] = [exeCpu(e.file, inputs, e.threads)];
  const ort1 = median(cols['ONNX Runtime, 1 thread']);
  const ort1cpu = cpu['ONNX Runtime, 1 thread'] ? median(cpu['ONNX Runtime, 1 thread']) : 0;
  const ortVersion = require('onnxruntime-node/package.json').version;
  console.log(`model: ${model}; ${rounds} rounds, onnxruntime-node ${ortVersion}`);
  console.log(`| configuration | median ms | best ms | median / ORT 1 thread |${o.cpu ? ' CPU ms / run | CPU / ORT 1 thread CPU |' : ''}`);
  console.log(`|---|---:|---:|---:|${o.cpu ? '---:|---:|' : ''}`);
  for (const [name, v] of Object.entries(cols)) {
    let line = `| ${name} | ${median(v).toFixed(2)} | ${best(v).toFixed(2)} | ${(median(v) / ort1).toFixed(2)} |`;
    if (o.cpu)
      line += cpu[name] ? ` ${median(cpu[name]).toFixed(2)} | ${(median(cpu[name]) / ort1cpu).toFixed(2)} |` : ' | |';
    console.log(line);
  }
  if (o.json) {
    const rows = Object.entries(cols).map(([name, v]) => ({
      configuration: name, median_ms: median(v), best_ms: best(v), ratio_ort1: median(v) / ort1,
      cpu_ms: cpu[name] ? median(cpu[name]) : null,
      cpu_ratio_ort1: cpu[name] && ort1cpu ? median(cpu[name]) / ort1cpu : null,
    }));
    fs.writeFileSync(o.json, JSON.stringify({ model, rounds, onnxruntime_node: ortVersion, rows }, null, 1) + '\n');
  }
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
