package pdfform

import (
	"bytes"
	"fmt"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// flattenForm draws every visible widget's appearance into its page, then
// removes the widgets and the form: what was filled in stays, as page
// content, and can no longer be edited.
func flattenForm(ctx *model.Context) error {
	for pageNr := 1; pageNr <= ctx.PageCount; pageNr++ {
		if err := flattenPage(ctx, pageNr); err != nil {
			return fmt.Errorf("page %d: %w", pageNr, err)
		}
	}
	root, err := ctx.Catalog()
	if err != nil {
		return err
	}
	delete(root, "AcroForm")
	return nil
}

func flattenPage(ctx *model.Context, pageNr int) error {
	page, _, inherited, err := ctx.PageDict(pageNr, false)
	if err != nil {
		return err
	}
	annots, err := ctx.DereferenceArray(page["Annots"])
	if err != nil || len(annots) == 0 {
		return err
	}
	var keep types.Array
	var content bytes.Buffer
	xobjects := types.Dict{}
	for _, a := range annots {
		ad, err := ctx.DereferenceDict(a)
		if err != nil || ad == nil {
			keep = append(keep, a)
			continue
		}
		if st := ad.NameEntry("Subtype"); st == nil || *st != "Widget" {
			keep = append(keep, a)
			continue
		}
		if f := ad.IntEntry("F"); f != nil && *f&(1<<1) != 0 { // hidden
			continue
		}
		ref, ok := normalAppearance(ctx, ad)
		if !ok {
			continue
		}
		place, ok := placement(ctx, ad, ref)
		if !ok {
			continue
		}
		name := fmt.Sprintf("PFFlat%d", len(xobjects)+1)
		xobjects[name] = ref
		fmt.Fprintf(&content, "q %s cm /%s Do Q\n", place, name)
	}
	if len(keep) == 0 {
		delete(page, "Annots")
	} else {
		page["Annots"] = keep
	}
	if len(xobjects) == 0 {
		return nil
	}
	if page["Resources"] == nil && inherited != nil && inherited.Resources != nil {
		page["Resources"] = inherited.Resources.Clone()
	}
	if err := addXObjects(ctx, page, xobjects); err != nil {
		return err
	}
	return appendContent(ctx, page, content.Bytes())
}

// normalAppearance returns the appearance stream a viewer shows for a
// widget: /AP /N, or for a checkbox or radio button the state in /AS.
func normalAppearance(ctx *model.Context, ad types.Dict) (types.IndirectRef, bool) {
	ap, err := ctx.DereferenceDict(ad["AP"])
	if err != nil || ap == nil {
		return types.IndirectRef{}, false
	}
	n := ap["N"]
	if ref, ok := n.(types.IndirectRef); ok {
		if obj, err := ctx.Dereference(ref); err == nil {
			if _, isStream := obj.(types.StreamDict); isStream {
				return ref, true
			}
			n = obj
		}
	}
	states, err := ctx.DereferenceDict(n)
	if err != nil || states == nil {
		return types.IndirectRef{}, false
	}
	as := ad.NameEntry("AS")
	if as == nil {
		return types.IndirectRef{}, false
	}
	ref, ok := states[*as].(types.IndirectRef)
	return ref, ok
}

// placement is the matrix that maps the appearance's bounding box onto the
// widget's rectangle.
func placement(ctx *model.Context, ad types.Dict, ref types.IndirectRef) (string, bool) {
	ra, err := ctx.DereferenceArray(ad["Rect"])
	if err != nil || len(ra) != 4 {
		return "", false
	}
	rect, err := ctx.RectForArray(ra)
	if err != nil {
		return "", false
	}
	sd, _, err := ctx.DereferenceStreamDict(ref)
	if err != nil || sd == nil {
		return "", false
	}
	ba, err := ctx.DereferenceArray(sd.Dict["BBox"])
	if err != nil || len(ba) != 4 {
		return "", false
	}
	bbox, err := ctx.RectForArray(ba)
	if err != nil || bbox.Width() == 0 || bbox.Height() == 0 {
		return "", false
	}
	sx, sy := rect.Width()/bbox.Width(), rect.Height()/bbox.Height()
	tx, ty := rect.LL.X-bbox.LL.X*sx, rect.LL.Y-bbox.LL.Y*sy
	return fmt.Sprintf("%.4f 0 0 %.4f %.4f %.4f", sx, sy, tx, ty), true
}

// addXObjects adds named form XObjects to the page's own resources.
func addXObjects(ctx *model.Context, page types.Dict, add types.Dict) error {
	res, err := ownDict(ctx, page["Resources"])
	if err != nil {
		return err
	}
	xo, err := ownDict(ctx, res["XObject"])
	if err != nil {
		return err
	}
	for k, v := range add {
		xo[k] = v
	}
	res["XObject"] = xo
	page["Resources"] = res
	return nil
}

// ownDict is a copy of the dictionary o is or refers to, to change without
// changing whatever else shares it; an empty one when there is none.
func ownDict(ctx *model.Context, o types.Object) (types.Dict, error) {
	d, err := ctx.DereferenceDict(o)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return types.Dict{}, nil
	}
	return d.Clone().(types.Dict), nil
}

// newStream adds content to ctx as a compressed stream object.
func newStream(ctx *model.Context, content []byte) (types.IndirectRef, error) {
	sd, err := ctx.NewStreamDictForBuf(content)
	if err != nil {
		return types.IndirectRef{}, err
	}
	if err := sd.Encode(); err != nil {
		return types.IndirectRef{}, err
	}
	ref, err := ctx.IndRefForNewObject(*sd)
	if err != nil {
		return types.IndirectRef{}, err
	}
	return *ref, nil
}

// appendContent adds a content stream after the page's own.
func appendContent(ctx *model.Context, page types.Dict, content []byte) error {
	ref, err := newStream(ctx, content)
	if err != nil {
		return err
	}
	// Wrap the old content in q … Q so its graphics state cannot leak
	// into the appearances drawn after it.
	preRef, err := newStream(ctx, []byte("q\n"))
	if err != nil {
		return err
	}
	postRef, err := newStream(ctx, []byte("\nQ\n"))
	if err != nil {
		return err
	}
	var contents types.Array
	switch c := page["Contents"].(type) {
	case nil:
	case types.IndirectRef:
		obj, err := ctx.Dereference(c)
		if err != nil {
			return err
		}
		if arr, ok := obj.(types.Array); ok {
			contents = append(contents, arr...)
		} else {
			contents = append(contents, c)
		}
	case types.Array:
		contents = append(contents, c...)
	}
	page["Contents"] = append(append(types.Array{preRef}, contents...), postRef, ref)
	return nil
}
