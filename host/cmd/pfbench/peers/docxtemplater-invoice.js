// examples/templates/invoice.docx filled with docxtemplater and pizzip.
// The template's block tags are rewritten once into docxtemplater's
// sections; the other tags keep their text and are looked up, formatted
// already, by a parser.
'use strict';
const fs = require('fs');
const PizZip = require('pizzip');
const Docxtemplater = require('docxtemplater');
const { serve, input } = require('./harness');

const { invoice, values, formatted } = input();
const src = new PizZip(fs.readFileSync(invoice));
for (const name of Object.keys(src.files)) {
  if (!/^word\/.*\.xml$/.test(name)) continue;
  let xml = src.file(name).asText()
    .replace('{{#each Items}}', '{{#Items}}')
    .replace('{{/each}}', '{{/Items}}')
    .replace('{{#if Country == "Poland"}}', '{{#isPoland}}')
    .replace('{{/if}}', '{{/isPoland}}');
  // {{else}} starts the row shown for no items: the row of items ends
  // before it.
  const at = xml.indexOf('{{else}}');
  if (at >= 0) {
    const end = xml.lastIndexOf('</w:t>', at);
    xml = xml.slice(0, end) + '{{/Items}}' + xml.slice(end, at) + '{{^Items}}' + xml.slice(at + '{{else}}'.length);
  }
  src.file(name, xml);
}
const template = src.generate({ type: 'nodebuffer' });
const data = { ...values, isPoland: values.Country === 'Poland' };

const parser = (tag) => ({
  get(scope) {
    if (tag === '.') return scope;
    if (tag in formatted) return formatted[tag];
    if (tag === 'unit_price | number 2') return scope.unit_price.toFixed(2);
    return scope[tag];
  },
});

serve(() => {
  const doc = new Docxtemplater(new PizZip(template), {
    paragraphLoop: true, delimiters: { start: '{{', end: '}}' }, parser,
  });
  doc.render(data);
  return doc.getZip().generate({ type: 'nodebuffer', compression: 'DEFLATE' });
});
