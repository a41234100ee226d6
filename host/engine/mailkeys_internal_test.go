package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestMailRecordOf: the email block's keys of numbered items share a
// record with their neighbours under their run; other keys of a run are
// kept on their own under it; anything else, or a first part that cannot
// be a subject token, is not kept under a run.
func TestMailRecordOf(t *testing.T) {
	for _, tt := range []struct {
		idempotencyKey, scope string
		grouped               bool
	}{
		{"20250101-000000-0123abcd/7/mail", "20250101-000000-0123abcd", true},
		{"orders-web-20250101/ab12/notify", "orders-web-20250101", false},
		{"r/0/b", "r", false},
		{"r/7/", "r", false},
		{"item-1", unscopedMail, false},
		{"a/b", unscopedMail, false},
		{"a/b/c/d", unscopedMail, false},
		{"a.b/c/d", unscopedMail, false},
		{"a.b/7/d", unscopedMail, false},
		{"/c/d", unscopedMail, false},
		{"unscoped/c/d", unscopedMail, false},
	} {
		r := mailRecordOf(tt.idempotencyKey)
		if !strings.HasPrefix(r.key, "mail."+tt.scope+".") || strings.Count(r.key, ".") != 2 {
			t.Errorf("%q: key %s, want it under mail.%s.", tt.idempotencyKey, r.key, tt.scope)
		}
		if strings.Count(r.legacy, ".") != 1 || r.legacy[len("mail."):] != r.key[strings.LastIndex(r.key, ".")+1:] {
			t.Errorf("%q: earlier layout %s does not match %s", tt.idempotencyKey, r.legacy, r.key)
		}
		if got := r.group != ""; got != tt.grouped {
			t.Errorf("%q: group %q, want grouped %v", tt.idempotencyKey, r.group, tt.grouped)
		} else if got && (!strings.HasPrefix(r.group, "mail."+tt.scope+".g.") || strings.Count(r.group, ".") != 3) {
			t.Errorf("%q: group %s, want it under mail.%s.g.", tt.idempotencyKey, r.group, tt.scope)
		}
	}
}

// TestMailGroups: neighbouring items of one block share a record; other
// blocks, runs and items further on do not.
func TestMailGroups(t *testing.T) {
	group := func(key string) string { return mailRecordOf(key).group }
	same := [][2]string{
		{"r/1/mail", "r/2/mail"},
		{"r/32/mail", "r/63/mail"},
	}
	for _, p := range same {
		if group(p[0]) != group(p[1]) {
			t.Errorf("%s and %s in different records", p[0], p[1])
		}
	}
	apart := [][2]string{
		{"r/31/mail", "r/32/mail"},
		{"r/1/mail", "r/1/other"},
		{"r/1/mail", "s/1/mail"},
	}
	for _, p := range apart {
		if group(p[0]) == group(p[1]) {
			t.Errorf("%s and %s share record %s", p[0], p[1], group(p[0]))
		}
	}
}

func TestGroupLine(t *testing.T) {
	rec := []byte("1\t<a@x>\n12\t<b@x>\n2\t<c@x>\n")
	for _, tt := range []struct {
		item, want string
		ok         bool
	}{
		{"1", "<a@x>", true},
		{"12", "<b@x>", true},
		{"2", "<c@x>", true},
		{"3", "", false},
		{"", "", false},
	} {
		if got, ok := groupLine(rec, tt.item); got != tt.want || ok != tt.ok {
			t.Errorf("item %q: %q %v, want %q %v", tt.item, got, ok, tt.want, tt.ok)
		}
	}
}

// TestAppendLineConcurrently: lines appended at once, by one engine and
// by two (two hosts sharing a bus), all end up in the record, once each;
// a line for an item the record holds does not replace it.
func TestAppendLineConcurrently(t *testing.T) {
	ctx := context.Background()
	_, st := testStore(t)
	var hosts [2]mailKeys
	const group = "mail.r.g.0123456789abcdef"
	var wg sync.WaitGroup
	for i := range 2 * mailGroupSize {
		wg.Go(func() {
			item := i % mailGroupSize // every item twice, once per host
			line := fmt.Sprintf("%d\t<%d-%d@x>\n", item, item, i/mailGroupSize)
			if err := hosts[i%2].appendLine(ctx, st.State, group, line); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ent, err := st.State.Get(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	rec := ent.Value()
	if n := strings.Count(string(rec), "\n"); n != mailGroupSize {
		t.Errorf("%d lines, want %d:\n%s", n, mailGroupSize, rec)
	}
	for item := range mailGroupSize {
		if _, ok := groupLine(rec, fmt.Sprint(item)); !ok {
			t.Errorf("item %d missing", item)
		}
	}
	if err := hosts[0].appendLine(ctx, st.State, group, "0\t<other@x>\n"); err != nil {
		t.Fatal(err)
	}
	ent, _ = st.State.Get(ctx, group)
	if id, _ := groupLine(ent.Value(), "0"); id == "<other@x>" {
		t.Error("a second line for an item replaced the first")
	}
	for i := range hosts {
		if n := hosts[i].groups.Pending(); n != 0 {
			t.Errorf("%d group writes left behind", n)
		}
	}
}

// TestMayHaveLegacy: a state bucket without records in the earlier layout
// costs SendMail no second lookup; one with such a record does.
func TestMayHaveLegacy(t *testing.T) {
	ctx := context.Background()
	b, st := testStore(t)
	r := mailRecordOf("r/i/b")
	if _, err := st.State.Put(ctx, r.key, []byte("<a@example.com>")); err != nil {
		t.Fatal(err)
	}
	var fresh mailKeys
	if fresh.mayHaveLegacy(ctx, b.JS) {
		t.Error("records in the earlier layout reported in a bucket without any")
	}
	if _, err := st.State.Put(ctx, r.legacy, []byte("<a@example.com>")); err != nil {
		t.Fatal(err)
	}
	var upgraded mailKeys
	if !upgraded.mayHaveLegacy(ctx, b.JS) {
		t.Error("a record in the earlier layout not seen")
	}
}

// TestRunHasSingles: only a run with records of one key each (an earlier
// version's) costs a grouped key's miss a second lookup.
func TestRunHasSingles(t *testing.T) {
	ctx := context.Background()
	b, st := testStore(t)
	if err := (&mailKeys{}).appendLine(ctx, st.State, mailRecordOf("grouped/1/mail").group, "1\t<a@x>\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.State.Put(ctx, mailRecordOf("old/1/mail").key, []byte("<b@x>")); err != nil {
		t.Fatal(err)
	}
	var k mailKeys
	for _, tt := range []struct {
		run  string
		want bool
	}{{"grouped", false}, {"old", true}, {"none", false}, {"old", true}} {
		if got := k.runHasSingles(ctx, b.JS, tt.run); got != tt.want {
			t.Errorf("run %s: %v, want %v", tt.run, got, tt.want)
		}
	}
}
