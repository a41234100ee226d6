package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/signature/pdfview"
)

// maxCachedPage is the largest page image kept in the KV; a larger one is
// rendered again when asked for.
const maxCachedPage = 800 << 10

// pagePrefix starts the KV keys of request id's page images, so they are
// listed and dropped together when the request ends.
func pagePrefix(id string) string { return "png." + id + "." }

// pageKey is the KV key of page p of document n of request id rendered w
// pixels wide; documents are immutable, so the image never goes stale.
func pageKey(id string, n, p, w int) string {
	return pagePrefix(id) + strconv.Itoa(n) + "." + strconv.Itoa(p) + "." + strconv.Itoa(w)
}

// dropPageImages removes the page images of request r from the KV. It runs
// when the request ends (completed, declined, expired or cancelled), and
// images are kept only while a request is open (servePage), so the cache
// holds the images of open requests only, none past a request's expiry.
func (b *Block) dropPageImages(ctx context.Context, r *request) error {
	after := ""
	for {
		keys, more, err := b.host().KVKeys(ctx, pagePrefix(r.ID), after, 0)
		if err != nil {
			return sdk.Retryable(fmt.Errorf("list the page images of request %s: %w", r.ID, err))
		}
		for _, k := range keys {
			if err := b.host().KVDelete(ctx, k); err != nil {
				return sdk.Retryable(fmt.Errorf("remove page image %s of request %s: %w", k, r.ID, err))
			}
			after = k
		}
		if !more || len(keys) == 0 {
			return nil
		}
	}
}

// keepPage stores a rendered page image of req under key, unless req has
// ended meanwhile: an image stored after dropPageImages listed the keys
// is removed again, since the request's end is stored before that
// listing and so is seen here.
func (b *Block) keepPage(ctx context.Context, req *request, key string, img []byte) {
	if _, err := b.host().KVSet(ctx, key, img); err != nil {
		return
	}
	now, _, err := b.load(ctx, req.ID)
	if err == nil && now.open(b.now()) {
		return
	}
	if err := b.host().KVDelete(ctx, key); err != nil {
		b.host().Log(ctx, "warn", "signature: remove a page image of an ended request", map[string]any{"request": req.ID, "key": key, "err": err.Error()})
	}
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
	key := pageKey(req.ID, n, p, width)
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
			b.keepPage(ctx, req, key, img)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("Content-Length", strconv.Itoa(len(img)))
	_, _ = w.Write(img)
}
