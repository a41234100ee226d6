// examples/templates/form.pdf filled with pdf-lib: text fields and the
// Country combo box, appearances updated, saved. Values beyond Latin-1
// need an embedded font: DejaVu Sans, subset, through fontkit.
'use strict';
const fs = require('fs');
const { PDFDocument } = require('pdf-lib');
const fontkit = require('@pdf-lib/fontkit');
const { serve, input } = require('./harness');

const { form, font, text, country } = input();
const bytes = fs.readFileSync(form);
const dejavu = font ? fs.readFileSync(font) : null;

serve(async () => {
  const doc = await PDFDocument.load(bytes);
  const f = doc.getForm();
  for (const [name, value] of Object.entries(text)) f.getTextField(name).setText(value);
  f.getDropdown('Country').select(country);
  if (dejavu) {
    doc.registerFontkit(fontkit);
    f.updateFieldAppearances(await doc.embedFont(dejavu, { subset: true }));
  }
  return Buffer.from(await doc.save());
});
