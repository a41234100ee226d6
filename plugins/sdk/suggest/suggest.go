// Package suggest finds the name a user most likely meant, for messages such
// as `unknown block "sned" (did you mean "send"?)`. The workflow loader, the
// tag language and blocks word such errors alike, so what counts as a typo is
// decided once, here.
package suggest

import (
	"fmt"
	"strings"
)

// DidYouMean returns ` (did you mean "x"?)` for the name of names closest to
// s when it is close enough to be a typo, else "". It is meant to follow the
// unknown name in a message.
func DidYouMean(s string, names []string) string {
	best, ok := Closest(s, names)
	if !ok {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Closest returns the first of names with the smallest edit distance to s,
// ignoring case, if that distance is below both 3 and half the length of s
// plus one: a short name with many edits is another name, not a typo.
func Closest(s string, names []string) (string, bool) {
	best, bestD := "", min(len(s)/2+1, 3)
	for _, n := range names {
		if d := Distance(strings.ToLower(s), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best, best != ""
}

// Distance is the Levenshtein distance of a and b, in bytes.
func Distance(a, b string) int {
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		prev := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			cur := row[j]
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			row[j] = min(row[j]+1, row[j-1]+1, prev+cost)
			prev = cur
		}
	}
	return row[len(b)]
}
