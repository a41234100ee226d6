// The README letter as a typst document (letter.typ), values passed as
// sys.inputs, compiled to PDF by a warm typst compiler.
'use strict';
const fs = require('fs');
const path = require('path');
const { NodeCompiler } = require('@myriaddreamin/typst-ts-node-compiler');
const { serve, input } = require('./harness');

const { templates, fonts, values } = input();
const compiler = NodeCompiler.create({ workspace: templates, fontArgs: [{ fontPaths: [fonts] }] });
const main = fs.readFileSync(path.join(__dirname, 'letter.typ'), 'utf8');

let made = 0;
serve(() => {
  const pdf = compiler.pdf({ mainFileContent: main, inputs: values });
  if (++made % 1000 === 0) compiler.evictCache(30); // as typst's watch mode does
  return pdf;
});
