package events

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

var idPattern = regexp.MustCompile(`^[0-9a-f]{48}$`)

func TestIDIsDeterministic(t *testing.T) {
	t.Parallel()
	a := ID("invoices", "run-1", "row-7", "contract", DocumentsCreated)
	if b := ID("invoices", "run-1", "row-7", "contract", DocumentsCreated); a != b {
		t.Fatalf("same inputs gave %s and %s", a, b)
	}
	if !idPattern.MatchString(a) {
		t.Fatalf("id %q is not 48 lowercase hex characters", a)
	}
	// Pinned: a change of derivation would make resumed runs republish
	// events that JetStream and subscribers have already seen.
	const pinned = "75d4033728f8cd786c965bff0413381348be947aee8e062a"
	if a != pinned {
		t.Errorf("ID derivation changed: got %s, pinned %s", a, pinned)
	}
}

func TestIDDiffersWhenAnyPartDiffers(t *testing.T) {
	t.Parallel()
	type parts struct {
		workflow, run, item, block string
		typ                        Type
	}
	base := parts{"invoices", "run-1", "row-7", "contract", DocumentsCreated}
	tests := []struct {
		name string
		p    parts
	}{
		{"workflow", parts{"invoices2", base.run, base.item, base.block, base.typ}},
		{"run", parts{base.workflow, "run-2", base.item, base.block, base.typ}},
		{"item", parts{base.workflow, base.run, "row-8", base.block, base.typ}},
		{"block", parts{base.workflow, base.run, base.item, "mail", base.typ}},
		{"type", parts{base.workflow, base.run, base.item, base.block, EmailsCreated}},
		{"part boundary moved", parts{base.workflow, base.run + "row-7", "", base.block, base.typ}},
		{"zero byte inside a part", parts{base.workflow, base.run + "\x00row-7", "", base.block, base.typ}},
	}
	want := ID(base.workflow, base.run, base.item, base.block, base.typ)
	seen := map[string]string{want: "base"}
	for _, tt := range tests {
		got := ID(tt.p.workflow, tt.p.run, tt.p.item, tt.p.block, tt.p.typ)
		if other, dup := seen[got]; dup {
			t.Errorf("%s: id %s equals the id of %s", tt.name, got, other)
		}
		seen[got] = tt.name
	}
}

func TestParseType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Type
		wantErr string
	}{
		{"DOCUMENTS_CREATED", DocumentsCreated, ""},
		{"EMAILS_CREATED", EmailsCreated, ""},
		{"SIGNATURES_REQUESTED", SignaturesRequested, ""},
		{"SIGNATURES_COMPLETED", SignaturesCompleted, ""},
		{"SIGNATURES_DECLINED", SignaturesDeclined, ""},
		{"documents_created", "", "did you mean DOCUMENTS_CREATED?"},
		{"signatures-completed", "", "did you mean SIGNATURES_COMPLETED?"},
		{"DOCUMENT_CREATED", "", "want one of DOCUMENTS_CREATED, EMAILS_CREATED"},
		{"", "", `unknown event type ""`},
	}
	for _, tt := range tests {
		got, err := ParseType(tt.in)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseType(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseType(%q) error = %v; want it to contain %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestSubject(t *testing.T) {
	t.Parallel()
	if got, want := Subject("invoices", SignaturesCompleted), "paperflow.events.invoices.SIGNATURES_COMPLETED"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if !strings.HasPrefix(Subject("x", DocumentsCreated), strings.TrimSuffix(SubjectAll, ">")) {
		t.Errorf("Subject is outside SubjectAll %q", SubjectAll)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	meta := Metadata{Workflow: "hiring", RunID: "r1", ItemID: "i1", BlockID: "mail"}
	data := map[string]any{"emails": []map[string]any{{
		"to": "ada@example.com", "subject": "Offer & contract", "message_id": "<abc@paperflow.local>",
	}}}
	before := time.Now()
	env, raw, err := New(meta, EmailsCreated, data)
	if err != nil {
		t.Fatal(err)
	}
	if want := ID("hiring", "r1", "i1", "mail", EmailsCreated); env.EventID != want {
		t.Errorf("EventID = %s, want %s", env.EventID, want)
	}
	if env.Metadata.CreatedAt.Before(before.Add(-time.Second)) || env.Metadata.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want now in UTC", env.Metadata.CreatedAt)
	}
	// A Message-ID must reach subscribers as written, not as \u003c...\u003e.
	if !bytes.Contains(raw, []byte(`"<abc@paperflow.local>"`)) || !bytes.Contains(raw, []byte(`Offer & contract`)) {
		t.Errorf("HTML-escaped output: %s", raw)
	}
	var back Envelope
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.EventID != env.EventID || back.EventType != EmailsCreated || back.Metadata != env.Metadata {
		t.Errorf("round trip: got %+v, want %+v", back, env)
	}
	if err := testValidator(t).Validate(raw); err != nil {
		t.Errorf("New built an invalid event: %v", err)
	}

	if _, _, err := New(meta, "EMAIL_SENT", data); err == nil {
		t.Error("New accepted an unknown type")
	}
	if _, _, err := New(meta, EmailsCreated, func() {}); err == nil {
		t.Error("New accepted data that cannot be JSON")
	}
}

func TestKeyedID(t *testing.T) {
	t.Parallel()
	plain := ID("contracts", "run-1", "row-1", "sign", SignatureRequestViewed)
	if got := KeyedID("contracts", "run-1", "row-1", "sign", SignatureRequestViewed, ""); got != plain {
		t.Errorf("an empty key changed the id: %s, want %s", got, plain)
	}
	ada := KeyedID("contracts", "run-1", "row-1", "sign", SignatureRequestViewed, "ada@example.com")
	bob := KeyedID("contracts", "run-1", "row-1", "sign", SignatureRequestViewed, "bob@example.com")
	if ada == plain || bob == plain || ada == bob {
		t.Errorf("keyed ids collide: plain %s, ada %s, bob %s", plain, ada, bob)
	}
	if !idPattern.MatchString(ada) {
		t.Errorf("keyed id %q is not 48 lowercase hex characters", ada)
	}
	env, _, err := New(Metadata{Workflow: "contracts", RunID: "run-1", ItemID: "row-1", BlockID: "sign", Key: "ada@example.com"}, SignatureRequestViewed, map[string]any{})
	if err != nil || env.EventID != ada {
		t.Errorf("New with a key: id %s, %v; want %s", env.EventID, err, ada)
	}
	if _, raw, _ := New(Metadata{Workflow: "w", RunID: "r", ItemID: "i", BlockID: "b", Key: "secret-key"}, DocumentsCreated, map[string]any{}); bytes.Contains(raw, []byte("secret-key")) {
		t.Errorf("the key is published: %s", raw)
	}
}
