package docx

import (
	"errors"
	"fmt"
	"strings"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// structure is what compilePart needs to know about the elements of a part.
type structure struct {
	toks []token
	// match[i] is the index of the end token of the element starting at i.
	match map[int]int
	// parent[i] is the start token of the element enclosing token i (-1 at
	// the root).
	parent []int
	paras  []int // start tokens of <w:p>, in document order
}

func analyse(toks []token) structure {
	s := structure{toks: toks, match: map[int]int{}, parent: make([]int, len(toks))}
	var stack []int
	for i, t := range toks {
		s.parent[i] = -1
		if len(stack) > 0 {
			s.parent[i] = stack[len(stack)-1]
		}
		switch t.kind {
		case tokStart:
			stack = append(stack, i)
			if t.name == "w:p" {
				s.paras = append(s.paras, i)
			}
		case tokEnd:
			open := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			s.match[open] = i
			s.parent[i] = s.parent[open]
		}
	}
	return s
}

// enclosing returns the innermost element named name around token i, or -1.
func (s structure) enclosing(i int, name string) int {
	for p := s.parent[i]; p >= 0; p = s.parent[p] {
		if s.toks[p].name == name {
			return p
		}
	}
	return -1
}

// piece is the text of one <w:t> of a paragraph, cut into literal text
// and tags.
type piece struct {
	start int // the <w:t> start token
	text  int // its character data token
	segs  []seg
}

type seg struct {
	text string // literal text, or a tag's inside (between "{{" and "}}")
	tag  bool
}

// paragraph is a <w:p> with its text merged and its tags found.
type paragraph struct {
	start, end int
	pieces     []*piece
	text       string // the plain text, for messages
	tags       []*seg
}

// edits are the changes to a part's tokens, applied when it is written out.
type edits struct {
	skip   map[int]bool     // tokens dropped
	repl   map[int]string   // template source replacing a token
	before map[int][]string // template source in front of a token
	after  map[int][]string // template source behind a token
}

// listSet collects the fields a template uses as lists.
type listSet struct {
	each []string          // {{#each X}} targets, in order
	seen map[string]bool   // each, as a set
	rows map[string]string // the hidden list of a repeated row → the list it repeats over
}

func (l *listSet) addEach(name string) {
	if !l.seen[name] {
		l.seen[name] = true
		l.each = append(l.each, name)
	}
}

// rowList names the hidden list a repeated row iterates over; Render
// builds it from the item's list (see Template.listFields).
func (l *listSet) rowList(list string) string {
	name := fmt.Sprintf("paperflow-rows-%d", len(l.rows)+1)
	l.rows[name] = list
	return name
}

// compilePart turns an XML part into a template.
func compilePart(name, src string, lists *listSet) (*part, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, fmt.Errorf("%s: broken XML: %w", name, err)
	}
	st := analyse(toks)
	ed := edits{skip: map[int]bool{}, repl: map[int]string{}, before: map[int][]string{}, after: map[int][]string{}}

	var paras []*paragraph
	for _, p := range st.paras {
		para, err := mergeParagraph(st, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		paras = append(paras, para)
	}

	rowsWithSections := map[int]bool{}
	for _, para := range paras {
		opens, closes, elses := unmatched(para.tags)
		if len(opens)+len(closes)+len(elses) == 0 {
			continue
		}
		if soleSectionTag(para) && hoistable(st, para.start) {
			for i := para.start; i <= para.end; i++ {
				ed.skip[i] = true
			}
			ed.before[para.start] = append(ed.before[para.start], "{{"+para.tags[0].text+"}}")
			noteEach(para.tags[0].text, lists)
			continue
		}
		row := st.enclosing(para.start, "w:tr")
		if row < 0 {
			continue
		}
		rowsWithSections[row] = true
		for _, t := range opens {
			ed.before[row] = append(ed.before[row], "{{"+t.text+"}}")
			noteEach(t.text, lists)
			t.text, t.tag = "", false
		}
		for _, t := range elses {
			ed.before[row] = append(ed.before[row], "{{"+t.text+"}}")
			t.text, t.tag = "", false
		}
		end := st.match[row]
		for _, t := range closes {
			ed.after[end] = append(ed.after[end], "{{"+t.text+"}}")
			t.text, t.tag = "", false
		}
	}
	for _, para := range paras {
		for _, t := range para.tags {
			if t.tag {
				noteEach(t.text, lists)
			}
		}
	}
	repeatListRows(st, paras, rowsWithSections, &ed, lists)

	for _, para := range paras {
		for _, pc := range para.pieces {
			ed.repl[pc.text] = pieceSource(pc.segs)
			if hasTag(pc.segs) && !strings.Contains(toks[pc.start].raw, "xml:space") {
				ed.repl[pc.start] = strings.Replace(toks[pc.start].raw, "<w:t", `<w:t xml:space="preserve"`, 1)
			}
		}
	}

	out, spans := emit(toks, paras, ed)
	tpl, err := tags.Parse(out)
	if err != nil {
		p := &part{name: name, paras: spans}
		var se *tags.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s%s", se.Msg, p.where(se.Offset))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &part{name: name, tpl: tpl, paras: spans}, nil
}

// mergeParagraph collects the text of a paragraph's runs and moves each tag
// whole into the piece where it starts.
func mergeParagraph(st structure, start int) (*paragraph, error) {
	end := st.match[start]
	para := &paragraph{start: start, end: end}
	var texts []string
	for i := start + 1; i < end; i++ {
		t := st.toks[i]
		if t.kind != tokStart || t.name != "w:t" || st.enclosing(i, "w:p") != start {
			continue
		}
		if i+1 < len(st.toks) && st.toks[i+1].kind == tokText {
			para.pieces = append(para.pieces, &piece{start: i, text: i + 1})
			texts = append(texts, xmlUnescape(st.toks[i+1].raw))
		}
	}
	full := strings.Join(texts, "")
	para.text = full
	spans, err := findTags(full)
	if err != nil {
		return nil, fmt.Errorf("%v in the paragraph %q", err, clip(full))
	}
	// offsets[k] is where piece k starts in full.
	offsets := make([]int, len(texts)+1)
	for k, t := range texts {
		offsets[k+1] = offsets[k] + len(t)
	}
	owner := func(at int) int {
		for k := len(texts) - 1; k >= 0; k-- {
			if at >= offsets[k] && len(texts[k]) > 0 {
				return k
			}
		}
		return 0
	}
	addText := func(from, to int) {
		for k := range texts {
			a, b := max(from, offsets[k]), min(to, offsets[k+1])
			if a < b {
				pc := para.pieces[k]
				pc.segs = append(pc.segs, seg{text: full[a:b]})
			}
		}
	}
	at := 0
	for _, sp := range spans {
		addText(at, sp[0])
		pc := para.pieces[owner(sp[0])]
		pc.segs = append(pc.segs, seg{text: normalizeTag(full[sp[0]+2 : sp[1]-2]), tag: true})
		at = sp[1]
	}
	addText(at, len(full))
	for _, pc := range para.pieces {
		for j := range pc.segs {
			if pc.segs[j].tag {
				para.tags = append(para.tags, &pc.segs[j])
			}
		}
	}
	return para, nil
}

// findTags returns the [start, end) of each "{{…}}" in s. Quoted strings
// inside a tag may hold "}}".
func findTags(s string) ([][2]int, error) {
	var out [][2]int
	for i := 0; ; {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			return out, nil
		}
		open := i + j
		quote := false
		end := -1
		for k := open + 2; k < len(s) && end < 0; k++ {
			switch {
			case quote && s[k] == '\\':
				k++
			case s[k] == '"':
				quote = !quote
			case strings.HasPrefix(s[k:], "“") || strings.HasPrefix(s[k:], "”"):
				quote = !quote
				k += len("“") - 1
			case !quote && strings.HasPrefix(s[k:], "}}"):
				end = k + 2
			}
		}
		if end < 0 {
			return nil, fmt.Errorf("unclosed tag %q: add \"}}\"", clip(s[open:]))
		}
		out = append(out, [2]int{open, end})
		i = end
	}
}

// normalizeTag undoes what Word's AutoCorrect does to typed quotes.
func normalizeTag(s string) string {
	return strings.NewReplacer("“", `"`, "”", `"`, "„", `"`, "″", `"`, "\u00a0", " ").Replace(s)
}

// section classifies a tag's inside: "#if", "/each", "else" or "" for a
// value tag.
func section(inner string) (kind, name string) {
	s := strings.TrimSpace(inner)
	switch {
	case strings.HasPrefix(s, "#"):
		w, _, _ := strings.Cut(s[1:], " ")
		return "open", w
	case strings.HasPrefix(s, "/"):
		return "close", strings.TrimSpace(s[1:])
	case s == "else":
		return "else", ""
	}
	return "", ""
}

// unmatched returns the section tags of a paragraph that are not closed
// (or opened) inside it.
func unmatched(ts []*seg) (opens, closes, elses []*seg) {
	for _, t := range ts {
		switch kind, name := section(t.text); kind {
		case "open":
			opens = append(opens, t)
		case "close":
			if n := len(opens); n > 0 {
				if _, open := section(opens[n-1].text); open == name {
					opens = opens[:n-1]
					continue
				}
			}
			closes = append(closes, t)
		case "else":
			if len(opens) == 0 {
				elses = append(elses, t)
			}
		}
	}
	return opens, closes, elses
}

// soleSectionTag reports a paragraph whose whole text is one section tag.
func soleSectionTag(p *paragraph) bool {
	if len(p.tags) != 1 {
		return false
	}
	kind, _ := section(p.tags[0].text)
	if kind == "" {
		return false
	}
	return strings.TrimSpace(normalizeTag(p.text)) == "{{"+p.tags[0].text+"}}"
}

// hoistable reports whether the paragraph at start may be removed: it sits
// directly in the body, a header or a footer (a table cell must keep a
// paragraph) and carries no section properties.
func hoistable(st structure, start int) bool {
	parent := st.parent[start]
	if parent < 0 {
		return false
	}
	switch st.toks[parent].name {
	case "w:body", "w:hdr", "w:ftr", "w:footnote", "w:endnote":
	default:
		return false
	}
	for i := start; i <= st.match[start]; i++ {
		if st.toks[i].name == "w:sectPr" {
			return false
		}
	}
	return true
}

// noteEach records the list of an {{#each list}} opener.
func noteEach(inner string, lists *listSet) {
	s := strings.TrimSpace(inner)
	if !strings.HasPrefix(s, "#each") {
		return
	}
	name := strings.TrimSpace(strings.TrimPrefix(s, "#each"))
	if name != "" && !strings.ContainsAny(name, `|"`) {
		lists.addEach(name)
	}
}

// repeatListRows makes a table row whose tags name fields inside one list
// ({{items.description}}, {{items.amount}}) repeat once per entry of that
// list. The row is wrapped in an #each over a hidden list whose entries
// hold one entry of the real list each, under the list's own name, so the
// tags stay as written: inside the row {{items.description}} finds the
// current entry first. When the field is not a list, the hidden list has a
// single empty entry and the row renders once, as an ordinary row.
func repeatListRows(st structure, paras []*paragraph, skipRows map[int]bool, ed *edits, lists *listSet) {
	byRow := map[int][]*paragraph{}
	var rows []int
	for _, p := range paras {
		row := st.enclosing(p.start, "w:tr")
		if row < 0 || skipRows[row] {
			continue
		}
		if _, ok := byRow[row]; !ok {
			rows = append(rows, row)
		}
		byRow[row] = append(byRow[row], p)
	}
	for _, row := range rows {
		list, ok := rowListName(byRow[row])
		if !ok {
			continue
		}
		ed.before[row] = append(ed.before[row], "{{#each "+lists.rowList(list)+"}}")
		end := st.match[row]
		ed.after[end] = append([]string{"{{/each}}"}, ed.after[end]...)
	}
}

// rowListName returns the one list the value tags of a row reach into.
func rowListName(paras []*paragraph) (string, bool) {
	list := ""
	for _, p := range paras {
		for _, t := range p.tags {
			if kind, _ := section(t.text); kind != "" {
				return "", false
			}
			head, dotted := listPath(t.text)
			if !dotted {
				continue
			}
			if list != "" && !strings.EqualFold(head, list) {
				return "", false
			}
			list = head
		}
	}
	return list, list != ""
}

// listPath returns the first name of a value tag's dotted path; dotted is
// false for a plain field, an index path ({{items.0.name}}) or a reserved
// root.
func listPath(inner string) (head string, dotted bool) {
	path := inner
	if i := strings.IndexAny(path, "|=!"); i >= 0 {
		path = path[:i]
	}
	path = strings.TrimSpace(path)
	head, rest, dotted := strings.Cut(path, ".")
	if !dotted || head == "" || rest == "" || strings.ContainsAny(path, `"`) {
		return "", false
	}
	switch strings.ToLower(head) {
	case "blocks", "this", "@index":
		return "", false
	}
	if first, _, _ := strings.Cut(rest, "."); strings.Trim(first, "0123456789") == "" {
		return "", false
	}
	return head, true
}

func hasTag(segs []seg) bool {
	for _, s := range segs {
		if s.tag {
			return true
		}
	}
	return false
}

// pieceSource is the template source of one <w:t>'s text: literal text
// XML-escaped, tags as written.
func pieceSource(segs []seg) string {
	var b strings.Builder
	for _, s := range segs {
		if s.tag {
			if s.text != "" {
				b.WriteString("{{" + s.text + "}}")
			}
			continue
		}
		b.WriteString(literal(xmlEscapeText(s.text)))
	}
	return b.String()
}

// literal protects text that is not a tag from being read as one.
func literal(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return strings.ReplaceAll(s, "{{", `{{"{{"}}`)
}

// emit writes the part out as template source and records where each
// paragraph landed.
func emit(toks []token, paras []*paragraph, ed edits) (string, []paraSpan) {
	var b strings.Builder
	size := 0
	for _, t := range toks {
		size += len(t.raw)
	}
	b.Grow(size + size/8)
	startOf := map[int]*paragraph{}
	endOf := map[int]*paragraph{}
	for _, p := range paras {
		startOf[p.start] = p
		endOf[p.end] = p
	}
	var spans []paraSpan
	open := map[*paragraph]int{}
	for i, t := range toks {
		if p := startOf[i]; p != nil {
			open[p] = b.Len()
		}
		for _, s := range ed.before[i] {
			b.WriteString(s)
		}
		switch {
		case ed.skip[i]:
		case hasRepl(ed, i):
			b.WriteString(ed.repl[i])
		default:
			b.WriteString(literal(t.raw))
		}
		for _, s := range ed.after[i] {
			b.WriteString(s)
		}
		if p := endOf[i]; p != nil {
			spans = append(spans, paraSpan{start: open[p], end: b.Len(), text: p.text})
		}
	}
	return b.String(), spans
}

func hasRepl(ed edits, i int) bool {
	_, ok := ed.repl[i]
	return ok
}
