package main

import (
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/engine"
)

// TestSummaryCountsEveryEventType: the summary lists every event type the
// schemas define (SIGNATURES_DECLINED too), in their order, and leaves out
// types the run did not emit.
func TestSummaryCountsEveryEventType(t *testing.T) {
	var b strings.Builder
	printSummary(&b, &engine.Summary{RunID: "r1", Workflow: "hiring", Items: 2, Succeeded: 2,
		Events: map[string]int64{"SIGNATURES_DECLINED": 1, "DOCUMENTS_CREATED": 2}})
	want := "run r1 of hiring: 2 items, 2 succeeded, 0 failed in 0.0s\n" +
		"  DOCUMENTS_CREATED      2\n" +
		"  SIGNATURES_DECLINED    1\n"
	if b.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", b.String(), want)
	}
}
