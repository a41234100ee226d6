package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/paperflow/paperflow/plugins/signature/pdfview"
)

// maxCachedPage is the largest page image kept in the KV; a larger one is
// rendered again when asked for.
const maxCachedPage = 800 << 10

// pageKey is the KV key of page p of a document rendered w pixels wide;
// documents are immutable, so the key never goes stale.
func pageKey(docID string, p, w int) string {
	sum := sha256.Sum256([]byte(docID))
	return "png." + hex.EncodeToString(sum[:12]) + "." + strconv.Itoa(p) + "." + strconv.Itoa(w)
}

// servePage answers GET /page/<token>/<n>/<p>?w=<px>: page p of document n
// as a PNG, rendered on first request at the next width of pageWidths
// and kept in the block's KV, so every host serves it from there.
func (b *Block) servePage(w http.ResponseWriter, r *http.Request, token, doc, page string) {
	ctx := r.Context()
	req, _, ok := b.openLink(w, r, token)
	if !ok {
		return
	}
	n, err1 := strconv.Atoi(doc)
	p, err2 := strconv.Atoi(page)
	if err1 != nil || err2 != nil || n < 0 || n >= len(req.Documents) || p < 1 || (len(req.Documents[n].Pages) > 0 && p > len(req.Documents[n].Pages)) {
		b.messageState(w, linkInvalid)
		return
	}
	width, _ := strconv.Atoi(r.URL.Query().Get("w"))
	width = bucketWidth(width)
	d := req.Documents[n]
	key := pageKey(d.ID, p, width)
	img, _, found, err := b.host().KVGet(ctx, key)
	if err != nil {
		b.messageState(w, tryAgain)
		return
	}
	if !found {
		_, data, err := b.host().GetDocument(ctx, d.ID)
		if err != nil {
			b.messageState(w, tryAgain)
			return
		}
		start := time.Now()
		if img, err = pdfview.Render(ctx, data, p, width); err != nil {
			b.host().Log(ctx, "error", "signature: render a page", map[string]any{"document": d.Name, "page": p, "err": err.Error()})
			b.messageState(w, tryAgain)
			return
		}
		b.host().Log(ctx, "debug", "signature: page rendered", map[string]any{"document": d.Name, "page": p, "width": width, "bytes": len(img), "took_ms": time.Since(start).Milliseconds()})
		if len(img) <= maxCachedPage {
			_, _ = b.host().KVSet(ctx, key, img)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("Content-Length", strconv.Itoa(len(img)))
	_, _ = w.Write(img)
}
