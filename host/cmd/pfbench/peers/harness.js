// The loop every peer script runs: make documents on request, one at a
// time, and say how many fitted in the time asked for. The Go side
// (plugins/template/peers_test.go) starts a script, waits for "ready",
// then sends lines:
//   run <ms>      make documents for <ms> milliseconds; answer "<count> <elapsed ms>"
//   save <path>   write one document to <path>; answer "ok"
'use strict';
const fs = require('fs');
const readline = require('readline');

exports.serve = async function serve(make) {
  for (let i = 0; i < 20; i++) await make(); // warm up: caches, JIT
  const rl = readline.createInterface({ input: process.stdin });
  const lines = rl[Symbol.asyncIterator]();
  process.stdout.write('ready\n');
  for (;;) {
    const { value, done } = await lines.next();
    if (done) break;
    const [cmd, arg] = value.trim().split(/\s+/, 2);
    if (cmd === 'run') {
      const ms = Number(arg);
      const start = process.hrtime.bigint();
      let n = 0;
      let elapsed = 0;
      do {
        await make();
        n++;
        elapsed = Number(process.hrtime.bigint() - start) / 1e6;
      } while (elapsed < ms);
      process.stdout.write(`${n} ${elapsed}\n`);
    } else if (cmd === 'save') {
      fs.writeFileSync(arg, await make());
      process.stdout.write('ok\n');
    }
  }
};

// input reads the JSON the Go side passes as the first argument.
exports.input = () => JSON.parse(process.argv[2]);
