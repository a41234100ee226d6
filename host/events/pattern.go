package events

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxPatternStates bounds the table of an asciiMatcher; a pattern that
// needs more keeps to regexp.
const maxPatternStates = 256

// asciiMatcher answers re.MatchString for ASCII strings from a table built
// once: the schemas' patterns (an event id, a workflow name, an address
// list) are matched on every event, and regexp's general machine was a
// fifth of the fast check's time. It is built from the very program regexp
// runs (the pattern parsed as regexp.Compile parses it, simplified and
// compiled), by following every set of program positions the pattern can be
// in after each ASCII character, so it accepts exactly the strings the
// program accepts. Strings with other characters go to re itself.
type asciiMatcher struct {
	re *regexp.Regexp
	// next[s][c] is the state after character c in state s; dead (-1)
	// when no match can follow.
	next [][utf8.RuneSelf]int16
	// matched: a match has been found by state s (MatchString is true
	// whatever follows); atEnd: one is found if the string ends in s.
	matched, atEnd []bool
	// start is the state before the first character, empty the answer for
	// "".
	start int16
	empty bool
}

const dead = -1

// newASCIIMatcher builds the matcher of re, or returns nil when re uses
// something it does not handle (assertions other than ^ and $ of the whole
// text) or needs more than maxPatternStates states.
func newASCIIMatcher(re *regexp.Regexp) *asciiMatcher {
	parsed, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil
	}
	for _, inst := range prog.Inst {
		if inst.Op == syntax.InstEmptyWidth && syntax.EmptyOp(inst.Arg) != syntax.EmptyBeginText && syntax.EmptyOp(inst.Arg) != syntax.EmptyEndText {
			return nil
		}
	}
	b := patternBuilder{prog: prog, index: map[string]int16{}}
	// The unanchored search starts anew at every position: positions
	// reachable from the program's start join every state. At the first
	// position ^ holds.
	b.restart = b.closure([]uint32{uint32(prog.Start)}, false, false)
	m := &asciiMatcher{re: re, empty: re.MatchString("")}
	start, ok := b.state(b.closure([]uint32{uint32(prog.Start)}, true, false))
	if !ok || start == dead {
		return nil
	}
	m.start = start
	for i := 0; i < len(b.sets); i++ {
		set := b.sets[i]
		var row [utf8.RuneSelf]int16
		for c := range rune(utf8.RuneSelf) {
			var stepped []uint32
			for _, pc := range set {
				if inst := &prog.Inst[pc]; consumes(inst, c) {
					stepped = append(stepped, inst.Out)
				}
			}
			next := b.closure(stepped, false, false)
			next = union(next, b.restart)
			s, ok := b.state(next)
			if !ok {
				return nil
			}
			row[c] = s
		}
		m.next = append(m.next, row)
		m.matched = append(m.matched, slices.Contains(set, matchPC(prog)))
		m.atEnd = append(m.atEnd, slices.Contains(b.closure(set, false, true), matchPC(prog)))
	}
	return m
}

// MatchString is re.MatchString(s).
func (m *asciiMatcher) MatchString(s string) bool {
	if s == "" {
		return m.empty
	}
	state := m.start
	for i := 0; i < len(s); i++ {
		if m.matched[state] {
			return true
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			return m.re.MatchString(s)
		}
		state = m.next[state][c]
		if state == dead {
			// Only an anchored pattern dies: it can match nothing now,
			// whatever the rest is (and whatever characters it holds).
			return false
		}
	}
	return m.matched[state] || m.atEnd[state]
}

type patternBuilder struct {
	prog    *syntax.Prog
	restart []uint32
	sets    [][]uint32
	index   map[string]int16
}

// state numbers set, adding it if new; false when there are too many.
func (b *patternBuilder) state(set []uint32) (int16, bool) {
	if len(set) == 0 {
		return dead, true
	}
	key := setKey(set)
	if s, ok := b.index[key]; ok {
		return s, true
	}
	if len(b.sets) >= maxPatternStates {
		return 0, false
	}
	s := int16(len(b.sets))
	b.sets = append(b.sets, set)
	b.index[key] = s
	return s, true
}

func setKey(set []uint32) string {
	var sb strings.Builder
	for _, pc := range set {
		sb.WriteString(strconv.FormatUint(uint64(pc), 36))
		sb.WriteByte(',')
	}
	return sb.String()
}

// closure is the sorted set of instructions reachable from pcs without
// consuming a character: through alternations, captures and no-ops, and
// through ^ when atStart and $ when atEnd. Instructions that consume, the
// match, and assertions that do not hold here are its members.
func (b *patternBuilder) closure(pcs []uint32, atStart, atEnd bool) []uint32 {
	seen := map[uint32]bool{}
	var out []uint32
	var visit func(pc uint32)
	visit = func(pc uint32) {
		if seen[pc] {
			return
		}
		seen[pc] = true
		inst := &b.prog.Inst[pc]
		switch inst.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			visit(inst.Out)
			visit(inst.Arg)
		case syntax.InstCapture, syntax.InstNop:
			visit(inst.Out)
		case syntax.InstEmptyWidth:
			switch op := syntax.EmptyOp(inst.Arg); {
			case (op == syntax.EmptyBeginText && atStart) || (op == syntax.EmptyEndText && atEnd):
				visit(inst.Out)
			case op == syntax.EmptyEndText:
				// Kept: at the end of the string, $ will hold.
				out = append(out, pc)
			}
			// ^ after the start never holds: dropped.
		case syntax.InstFail:
		default:
			out = append(out, pc)
		}
	}
	for _, pc := range pcs {
		visit(pc)
	}
	slices.Sort(out)
	return out
}

func union(a, b []uint32) []uint32 {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// consumes reports whether inst consumes c.
func consumes(inst *syntax.Inst, c rune) bool {
	switch inst.Op {
	case syntax.InstRune:
		return inst.MatchRune(c)
	case syntax.InstRune1:
		return inst.Rune[0] == c
	case syntax.InstRuneAny:
		return true
	case syntax.InstRuneAnyNotNL:
		return c != '\n'
	}
	return false
}

// matchPC is the program's match instruction.
func matchPC(prog *syntax.Prog) uint32 {
	for pc, inst := range prog.Inst {
		if inst.Op == syntax.InstMatch {
			return uint32(pc)
		}
	}
	return ^uint32(0)
}
