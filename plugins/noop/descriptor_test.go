package main

import (
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk/sdktest"
)

// TestDescriptor pins what the block tells the host: a change to its
// manifest that changes the Descriptor shows here.
func TestDescriptor(t *testing.T) {
	sdktest.GoldenDescriptor(t, (&Block{}).Describe(), "testdata/descriptor.json")
}
